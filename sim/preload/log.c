/*
 * The ioctl log of libiommufd-sim-preload: with
 * IOMMUFD_SIM_PRELOAD_LOG=<file>, each failed ioctl on an iommufd appends
 * one line "pid name errno" to the file, for the kselftest runner's
 * summary of which operations fail.  Names come from the iommufd command
 * numbers, the selftest's IOMMU_TEST_OP_* (read from the caller's argument
 * without trusting the pointer) and the VFIO container ioctls.
 */
#include "config.h"

#undef _FORTIFY_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

#include <linux/iommufd.h>
#include <iommufd_test.h>

#include "sim/preload/preload.h"

static const char *const iommufd_ioctl_names[] = {
	"DESTROY", "IOAS_ALLOC", "IOAS_ALLOW_IOVAS", "IOAS_COPY",
	"IOAS_IOVA_RANGES", "IOAS_MAP", "IOAS_UNMAP", "OPTION", "VFIO_IOAS",
	"HWPT_ALLOC", "GET_HW_INFO", "HWPT_SET_DIRTY_TRACKING",
	"HWPT_GET_DIRTY_BITMAP", "HWPT_INVALIDATE", "FAULT_QUEUE_ALLOC",
	"IOAS_MAP_FILE", "VIOMMU_ALLOC", "VDEVICE_ALLOC",
	"IOAS_CHANGE_PROCESS", "VEVENTQ_ALLOC", "HW_QUEUE_ALLOC",
};

static const char *const test_op_names[] = {
	[1] = "ADD_RESERVED", "MOCK_DOMAIN", "MD_CHECK_MAP", "MD_CHECK_REFS",
	"CREATE_ACCESS", "DESTROY_ACCESS_PAGES", "ACCESS_PAGES", "ACCESS_RW",
	"SET_TEMP_MEMORY_LIMIT", "MOCK_DOMAIN_REPLACE", "ACCESS_REPLACE_IOAS",
	"MOCK_DOMAIN_FLAGS", "DIRTY", "MD_CHECK_IOTLB", "TRIGGER_IOPF",
	"DEV_CHECK_CACHE", "TRIGGER_VEVENT", "PASID_ATTACH", "PASID_REPLACE",
	"PASID_DETACH", "PASID_CHECK_HWPT", "DMABUF_GET", "DMABUF_REVOKE",
	"MD_CHECK_DMABUF",
};

/* VFIO container ioctls, ';' + 100 + n. */
static const char *vfio_ioctl_name(unsigned nr)
{
	switch (nr) {
	case 100: return "VFIO_GET_API_VERSION";
	case 101: return "VFIO_CHECK_EXTENSION";
	case 102: return "VFIO_SET_IOMMU";
	case 112: return "VFIO_IOMMU_GET_INFO";
	case 113: return "VFIO_IOMMU_MAP_DMA";
	case 114: return "VFIO_IOMMU_UNMAP_DMA";
	default: return NULL;
	}
}

static atomic_int log_fd = -2;	/* -2: not looked at yet; -1: off */

static int log_open(void)
{
	int fd = atomic_load(&log_fd);
	const char *path;

	if (fd != -2)
		return fd;
	path = getenv("IOMMUFD_SIM_PRELOAD_LOG");
	fd = path && *path ? real_open()(path, O_WRONLY | O_APPEND | O_CREAT |
						     O_CLOEXEC, 0644) :
			     -1;
	if (fd < 0)
		fd = -1;
	atomic_store(&log_fd, fd);
	return fd;
}

void pl_log_ioctl(unsigned long request, const void *arg, int rc)
{
	unsigned nr = _IOC_NR(request), op = 0;
	char name[64], line[160];
	const char *err;
	int fd = log_open(), len;

	if (fd < 0)
		return;
	if (_IOC_TYPE(request) != IOMMUFD_TYPE) {
		snprintf(name, sizeof(name), "ioctl_%#lx", request);
	} else if (nr >= IOMMUFD_CMD_BASE &&
		   nr - IOMMUFD_CMD_BASE < sizeof(iommufd_ioctl_names) /
						   sizeof(iommufd_ioctl_names[0])) {
		snprintf(name, sizeof(name), "IOMMU_%s",
			 iommufd_ioctl_names[nr - IOMMUFD_CMD_BASE]);
	} else if (request == IOMMU_TEST_CMD) {
		struct iovec l = { &op, sizeof(op) };
		struct iovec r = { (char *)arg + offsetof(struct iommu_test_cmd, op),
				   sizeof(op) };

		/* The test hands bad pointers on purpose: no plain load. */
		if (process_vm_readv(getpid(), &l, 1, &r, 1, 0) != sizeof(op))
			op = 0;
		if (op && op < sizeof(test_op_names) / sizeof(test_op_names[0]))
			snprintf(name, sizeof(name), "IOMMU_TEST_OP_%s",
				 test_op_names[op]);
		else
			snprintf(name, sizeof(name), "IOMMU_TEST_CMD(op=%u)", op);
	} else if (vfio_ioctl_name(nr)) {
		snprintf(name, sizeof(name), "%s", vfio_ioctl_name(nr));
	} else {
		snprintf(name, sizeof(name), "ioctl_nr_%#x", nr);
	}
	err = strerrorname_np(-rc);
	if (err)
		len = snprintf(line, sizeof(line), "%d %s %s\n", (int)getpid(),
			       name, err);
	else
		len = snprintf(line, sizeof(line), "%d %s errno_%d\n",
			       (int)getpid(), name, -rc);
	if (len > 0)
		(void)!real_write()(fd, line, (size_t)len);
}
