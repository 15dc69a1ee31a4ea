/*
 * Shared fixtures for the Check suites: a machine with one open iommufd,
 * ioctl wrappers that return -errno, and the invariant check as an
 * assertion.
 */
#ifndef ISIM_TESTS_HELPERS_H
#define ISIM_TESTS_HELPERS_H

#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <linux/iommufd.h>

#include <iommufd_test.h>

#include "iommufd-sim/sim.h"

static struct isim_machine *tm;
static struct isim_fd *tfd;

static inline void machine_setup(void)
{
	ck_assert_int_eq(isim_machine_new(NULL, &tm), 0);
	ck_assert_int_eq(isim_open(tm, &tfd), 0);
}

static inline void machine_teardown(void)
{
	char report[1024];

	isim_close(tfd);
	tfd = NULL;
	ck_assert_msg(isim_check(tm, report, sizeof(report)) == 0, "%s", report);
	isim_machine_free(tm);
	tm = NULL;
}

static inline void assert_invariants(struct isim_machine *m)
{
	char report[2048];

	ck_assert_msg(isim_check(m, report, sizeof(report)) == 0, "%s", report);
}

static inline int ioas_alloc(struct isim_fd *fd, uint32_t *id)
{
	struct iommu_ioas_alloc cmd = { .size = sizeof(cmd) };
	int rc = isim_ioctl(fd, IOMMU_IOAS_ALLOC, &cmd);

	if (!rc)
		*id = cmd.out_ioas_id;
	return rc;
}

static inline int obj_destroy(struct isim_fd *fd, uint32_t id)
{
	struct iommu_destroy cmd = { .size = sizeof(cmd), .id = id };

	return isim_ioctl(fd, IOMMU_DESTROY, &cmd);
}

#define RW (IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE)

static inline int ioas_map(struct isim_fd *fd, uint32_t ioas, void *va,
			   uint64_t len, uint32_t flags, uint64_t *iova)
{
	struct iommu_ioas_map cmd = {
		.size = sizeof(cmd),
		.flags = flags,
		.ioas_id = ioas,
		.user_va = (uintptr_t)va,
		.length = len,
		.iova = *iova,
	};
	int rc = isim_ioctl(fd, IOMMU_IOAS_MAP, &cmd);

	if (!rc)
		*iova = cmd.iova;
	return rc;
}

static inline int ioas_map_fixed(struct isim_fd *fd, uint32_t ioas, void *va,
				 uint64_t len, uint64_t iova)
{
	return ioas_map(fd, ioas, va, len, RW | IOMMU_IOAS_MAP_FIXED_IOVA,
			&iova);
}

/* Unmap; *out (if given) gets the length written back, or ~0 if none. */
static inline int ioas_unmap(struct isim_fd *fd, uint32_t ioas, uint64_t iova,
			     uint64_t len, uint64_t *out)
{
	struct iommu_ioas_unmap cmd = {
		.size = sizeof(cmd),
		.ioas_id = ioas,
		.iova = iova,
		.length = len,
	};
	int rc = isim_ioctl(fd, IOMMU_IOAS_UNMAP, &cmd);

	if (out)
		*out = cmd.length;
	return rc;
}

/* ------------------------------------------------- object allocation */

/* HWPT_ALLOC with every input; *out is written only on success. */
static inline int hwpt_alloc_fault(struct isim_fd *fd, uint32_t dev_id,
				   uint32_t pt_id, uint32_t fault_id,
				   uint32_t flags, uint32_t data_type,
				   const void *data, uint32_t len,
				   uint32_t *out)
{
	struct iommu_hwpt_alloc cmd = {
		.size = sizeof(cmd),
		.flags = flags,
		.dev_id = dev_id,
		.pt_id = pt_id,
		.data_type = data_type,
		.data_len = len,
		.data_uptr = (uintptr_t)data,
		.fault_id = fault_id,
	};
	int rc = isim_ioctl(fd, IOMMU_HWPT_ALLOC, &cmd);

	if (!rc)
		*out = cmd.out_hwpt_id;
	return rc;
}

static inline int hwpt_alloc_data(struct isim_fd *fd, uint32_t dev_id,
				  uint32_t pt_id, uint32_t flags,
				  uint32_t data_type, const void *data,
				  uint32_t len, uint32_t *out)
{
	return hwpt_alloc_fault(fd, dev_id, pt_id, 0, flags, data_type, data,
				len, out);
}

static inline int hwpt_alloc(struct isim_fd *fd, uint32_t dev_id,
			     uint32_t pt_id, uint32_t flags, uint32_t *out)
{
	return hwpt_alloc_data(fd, dev_id, pt_id, flags, IOMMU_HWPT_DATA_NONE,
			       NULL, 0, out);
}

/* VIOMMU_ALLOC; *out is written only on success. */
static inline int viommu_alloc_data(struct isim_fd *fd, uint32_t dev_id,
				    uint32_t hwpt_id, uint32_t type,
				    const void *data, uint32_t len,
				    uint32_t *out)
{
	struct iommu_viommu_alloc cmd = {
		.size = sizeof(cmd),
		.type = type,
		.dev_id = dev_id,
		.hwpt_id = hwpt_id,
		.data_len = len,
		.data_uptr = (uintptr_t)data,
	};
	int rc = isim_ioctl(fd, IOMMU_VIOMMU_ALLOC, &cmd);

	if (!rc)
		*out = cmd.out_viommu_id;
	return rc;
}

static inline int viommu_alloc(struct isim_fd *fd, uint32_t dev_id,
			       uint32_t hwpt_id, uint32_t type, uint32_t *out)
{
	return viommu_alloc_data(fd, dev_id, hwpt_id, type, NULL, 0, out);
}

/* VDEVICE_ALLOC; *out is written only on success. */
static inline int vdev_alloc(struct isim_fd *fd, uint32_t viommu_id,
			     uint32_t dev_id, uint64_t virt_id, uint32_t *out)
{
	struct iommu_vdevice_alloc cmd = {
		.size = sizeof(cmd),
		.viommu_id = viommu_id,
		.dev_id = dev_id,
		.virt_id = virt_id,
	};
	int rc = isim_ioctl(fd, IOMMU_VDEVICE_ALLOC, &cmd);

	if (!rc)
		*out = cmd.out_vdevice_id;
	return rc;
}

/* IOMMU_HWPT_INVALIDATE of @id; *num in: entries, out: handled. */
static inline int hwpt_invalidate(struct isim_fd *fd, uint32_t id,
				  uint32_t data_type, void *reqs,
				  uint32_t entry_len, uint32_t *num)
{
	struct iommu_hwpt_invalidate cmd = {
		.size = sizeof(cmd),
		.hwpt_id = id,
		.data_type = data_type,
		.data_uptr = (uintptr_t)reqs,
		.entry_len = entry_len,
		.entry_num = *num,
	};
	int rc = isim_ioctl(fd, IOMMU_HWPT_INVALIDATE, &cmd);

	*num = cmd.entry_num;
	return rc;
}

/* ---------------------------------------------------- IOMMU_TEST_CMD */

static inline int test_cmd(struct isim_fd *fd, struct iommu_test_cmd *cmd)
{
	cmd->size = sizeof(*cmd);
	return isim_ioctl(fd, IOMMU_TEST_CMD, cmd);
}

/*
 * MOCK_DOMAIN (dev_flags 0) or MOCK_DOMAIN_FLAGS; each output may be
 * NULL and is written only on success.
 */
static inline int mock_domain_flags(struct isim_fd *fd, uint32_t pt_id,
				    uint32_t dev_flags, uint32_t *stdev,
				    uint32_t *hwpt, uint32_t *idev)
{
	struct iommu_test_cmd cmd = {
		.op = dev_flags ? IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS :
				  IOMMU_TEST_OP_MOCK_DOMAIN,
		.id = pt_id,
		.mock_domain_flags = { .dev_flags = dev_flags },
	};
	int rc = test_cmd(fd, &cmd);

	if (!rc) {
		if (stdev)
			*stdev = cmd.mock_domain.out_stdev_id;
		if (hwpt)
			*hwpt = cmd.mock_domain.out_hwpt_id;
		if (idev)
			*idev = cmd.mock_domain.out_idev_id;
	}
	return rc;
}

static inline int mock_domain(struct isim_fd *fd, uint32_t pt_id,
			      uint32_t *stdev, uint32_t *hwpt)
{
	return mock_domain_flags(fd, pt_id, 0, stdev, hwpt, NULL);
}

/* MOCK_DOMAIN_REPLACE; *out (if given) gets the pt_id written back. */
static inline int mock_domain_replace(struct isim_fd *fd, uint32_t stdev,
				      uint32_t pt_id, uint32_t *out)
{
	struct iommu_test_cmd cmd = {
		.op = IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE,
		.id = stdev,
		.mock_domain_replace = { .pt_id = pt_id },
	};
	int rc = test_cmd(fd, &cmd);

	if (!rc && out)
		*out = cmd.mock_domain_replace.pt_id;
	return rc;
}

static inline int md_check_refs(struct isim_fd *fd, const void *p,
				uint64_t len, uint32_t refs)
{
	struct iommu_test_cmd cmd = {
		.op = IOMMU_TEST_OP_MD_CHECK_REFS,
		.check_refs = { .length = len, .uptr = (uintptr_t)p,
				.refs = refs },
	};

	return test_cmd(fd, &cmd);
}

static inline int md_check_map(struct isim_fd *fd, uint32_t hwpt,
			       uint64_t iova, uint64_t len, const void *p)
{
	struct iommu_test_cmd cmd = {
		.op = IOMMU_TEST_OP_MD_CHECK_MAP,
		.id = hwpt,
		.check_map = { .iova = iova, .length = len,
			       .uptr = (uintptr_t)p },
	};

	return test_cmd(fd, &cmd);
}

static inline int md_check_iotlb(struct isim_fd *fd, uint32_t hwpt,
				 uint32_t slot, uint32_t val)
{
	struct iommu_test_cmd cmd = {
		.op = IOMMU_TEST_OP_MD_CHECK_IOTLB,
		.id = hwpt,
		.check_iotlb = { .id = slot, .iotlb = val },
	};

	return test_cmd(fd, &cmd);
}

/* Run a suite; the exit status says whether every test passed. */
static inline int run_suite(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

#endif
