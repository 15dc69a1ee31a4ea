/*
 * The ioctl dispatcher: the table of iommufd commands with their struct
 * sizes, and the kernel's argument rules (spec/core.md §2): an unknown
 * number is ENOTTY, an unreadable size word EFAULT, a struct shorter than
 * the command's last mandatory member EINVAL, non-zero bytes past our
 * struct E2BIG.  After the handler, an object allocated through the ucmd is
 * finalized on success or destroyed on failure.
 */
#include "config.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

#include <linux/iommufd.h>
#include <iommufd_test.h>

#include "sim/iommufd/eventq.h"
#include "sim/iommufd/iommufd_private.h"
#include "sim/lib/uaccess.h"

#define offsetofend(type, member)                                          \
	(offsetof(type, member) + sizeof(((type *)0)->member))

/* Large enough for any command's struct. */
union ucmd_buffer {
	struct iommu_destroy destroy;
	struct iommu_fault_alloc fault;
	struct iommu_hw_info info;
	struct iommu_hw_queue_alloc hw_queue;
	struct iommu_hwpt_alloc hwpt;
	struct iommu_hwpt_get_dirty_bitmap get_dirty_bitmap;
	struct iommu_hwpt_invalidate cache;
	struct iommu_hwpt_set_dirty_tracking set_dirty_tracking;
	struct iommu_ioas_alloc alloc;
	struct iommu_ioas_allow_iovas allow_iovas;
	struct iommu_ioas_change_process chg_process;
	struct iommu_ioas_copy ioas_copy;
	struct iommu_ioas_iova_ranges iova_ranges;
	struct iommu_ioas_map map;
	struct iommu_ioas_map_file map_file;
	struct iommu_ioas_unmap unmap;
	struct iommu_option option;
	struct iommu_vdevice_alloc vdev;
	struct iommu_veventq_alloc veventq;
	struct iommu_vfio_ioas vfio_ioas;
	struct iommu_viommu_alloc viommu;
	struct iommu_test_cmd test;
};

struct iommufd_ioctl_op {
	const char *name;
	unsigned size;
	unsigned min_size;
	unsigned ioctl_num;
	int (*execute)(struct iommufd_ucmd *ucmd);
};

#define IOCTL_OP(_ioctl, _fn, _struct, _last)                              \
	[_IOC_NR(_ioctl) - IOMMUFD_CMD_BASE] = {                           \
		.name = #_ioctl,                                           \
		.size = sizeof(struct _struct),                            \
		.min_size = offsetofend(struct _struct, _last),            \
		.ioctl_num = _ioctl,                                       \
		.execute = _fn,                                            \
	}

/*
 * A NULL handler is a command whose model is not built yet: it passes the
 * generic argument checks and then answers EOPNOTSUPP, never success.
 */
static const struct iommufd_ioctl_op iommufd_ioctl_ops[] = {
	IOCTL_OP(IOMMU_DESTROY, iommufd_destroy, iommu_destroy, id),
	IOCTL_OP(IOMMU_IOAS_ALLOC, iommufd_ioas_alloc_ioctl, iommu_ioas_alloc,
		 out_ioas_id),
	IOCTL_OP(IOMMU_IOAS_ALLOW_IOVAS, iommufd_ioas_allow_iovas, iommu_ioas_allow_iovas,
		 allowed_iovas),
	IOCTL_OP(IOMMU_IOAS_COPY, iommufd_ioas_copy, iommu_ioas_copy, src_iova),
	IOCTL_OP(IOMMU_IOAS_IOVA_RANGES, iommufd_ioas_iova_ranges, iommu_ioas_iova_ranges,
		 out_iova_alignment),
	IOCTL_OP(IOMMU_IOAS_MAP, iommufd_ioas_map, iommu_ioas_map, iova),
	IOCTL_OP(IOMMU_IOAS_UNMAP, iommufd_ioas_unmap, iommu_ioas_unmap, length),
	IOCTL_OP(IOMMU_OPTION, iommufd_option, iommu_option, val64),
	IOCTL_OP(IOMMU_VFIO_IOAS, iommufd_vfio_ioas, iommu_vfio_ioas, __reserved),
	IOCTL_OP(IOMMU_HWPT_ALLOC, iommufd_hwpt_alloc, iommu_hwpt_alloc, __reserved),
	IOCTL_OP(IOMMU_GET_HW_INFO, iommufd_get_hw_info, iommu_hw_info, __reserved),
	IOCTL_OP(IOMMU_HWPT_SET_DIRTY_TRACKING, iommufd_hwpt_set_dirty_tracking,
		 iommu_hwpt_set_dirty_tracking, __reserved),
	IOCTL_OP(IOMMU_HWPT_GET_DIRTY_BITMAP, iommufd_hwpt_get_dirty_bitmap,
		 iommu_hwpt_get_dirty_bitmap, data),
	IOCTL_OP(IOMMU_HWPT_INVALIDATE, iommufd_hwpt_invalidate, iommu_hwpt_invalidate,
		 __reserved),
	IOCTL_OP(IOMMU_FAULT_QUEUE_ALLOC, iommufd_fault_alloc, iommu_fault_alloc,
		 out_fault_fd),
	IOCTL_OP(IOMMU_IOAS_MAP_FILE, iommufd_ioas_map_file, iommu_ioas_map_file, iova),
	IOCTL_OP(IOMMU_VIOMMU_ALLOC, iommufd_viommu_alloc_ioctl, iommu_viommu_alloc, out_viommu_id),
	IOCTL_OP(IOMMU_VDEVICE_ALLOC, iommufd_vdevice_alloc_ioctl, iommu_vdevice_alloc, virt_id),
	IOCTL_OP(IOMMU_IOAS_CHANGE_PROCESS, iommufd_ioas_change_process, iommu_ioas_change_process,
		 __reserved),
	IOCTL_OP(IOMMU_VEVENTQ_ALLOC, iommufd_veventq_alloc, iommu_veventq_alloc,
		 out_veventq_fd),
	IOCTL_OP(IOMMU_HW_QUEUE_ALLOC, iommufd_hw_queue_alloc_ioctl, iommu_hw_queue_alloc, length),
	IOCTL_OP(IOMMU_TEST_CMD, iommufd_test, iommu_test_cmd, last),
};

#define NR_OPS (sizeof(iommufd_ioctl_ops) / sizeof(iommufd_ioctl_ops[0]))

int iommufd_ucmd_respond(struct iommufd_ucmd *ucmd, size_t cmd_len)
{
	size_t n = ucmd->user_size < cmd_len ? ucmd->user_size : cmd_len;

	return isim_copy_to_user(ucmd->ubuffer, ucmd->cmd, n);
}

/* The ops entry for @cmd, or NULL when the number is not an iommufd one. */
static const struct iommufd_ioctl_op *lookup_op(unsigned long cmd)
{
	unsigned nr = _IOC_NR(cmd);

	if (nr < IOMMUFD_CMD_BASE || nr - IOMMUFD_CMD_BASE >= NR_OPS)
		return NULL;
	return &iommufd_ioctl_ops[nr - IOMMUFD_CMD_BASE];
}

int isim_ioctl(struct isim_fd *fd, unsigned long cmd, void *arg)
{
	struct iommufd_ctx *ictx = &fd->ictx;
	const struct iommufd_ioctl_op *op;
	struct iommufd_ucmd ucmd = { .ictx = ictx, .ubuffer = arg };
	union ucmd_buffer buf;
	int rc;

	op = lookup_op(cmd);
	if (!op) {
		/*
		 * Outside the table: a VFIO container ioctl or ENOTTY.  The
		 * kernel sees a 32-bit number and the raw argument, which is
		 * an integer for some of them.
		 */
		return iommufd_vfio_ioctl(ictx, (unsigned int)cmd,
					  (unsigned long)(uintptr_t)arg);
	}
	rc = isim_copy_from_user(&ucmd.user_size, arg, sizeof(ucmd.user_size));
	if (rc)
		return rc;
	if (!op->ioctl_num || op->ioctl_num != cmd)
		return -ENOTTY;
	if (ucmd.user_size < op->min_size)
		return -EINVAL;
	ucmd.cmd = &buf;
	rc = isim_copy_struct_from_user(&buf, op->size, arg, ucmd.user_size);
	if (rc)
		return rc;

	isim_trace(&ictx->m->trace, "ioctl.enter", "cmd=%s size=%u", op->name,
		   ucmd.user_size);
	rc = op->execute ? op->execute(&ucmd) : -EOPNOTSUPP;
	if (ucmd.new_obj) {
		if (rc)
			iommufd_object_abort_and_destroy(ictx, ucmd.new_obj);
		else
			iommufd_object_finalize(ictx, ucmd.new_obj);
	}
	isim_trace(&ictx->m->trace, "ioctl.exit", "cmd=%s rc=%d", op->name, rc);
	return rc;
}

/* Exported for tests and tools: the argument rules of one command. */
int isim_ioctl_sizes(unsigned long cmd, unsigned *size, unsigned *min_size)
{
	const struct iommufd_ioctl_op *op = lookup_op(cmd);

	if (!op || op->ioctl_num != cmd)
		return -ENOTTY;
	*size = op->size;
	*min_size = op->min_size;
	return 0;
}
