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
