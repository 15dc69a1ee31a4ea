/*
 * The dispatcher's argument rules (spec/core.md §2, §8.1), table-driven
 * over every command: short struct → EINVAL, non-zero tail → E2BIG,
 * unknown number → ENOTTY, unreadable argument → EFAULT, and replies that
 * never write past the caller's size.
 */
#include "config.h"

#include <sys/mman.h>
#include <unistd.h>

#include <iommufd_test.h>

#include "tests/unit/helpers.h"

/* Every command with the minimum size the kernel accepts (offsetofend). */
static const struct {
	unsigned long cmd;
	unsigned min_size;
	unsigned size;
} cmds[] = {
	{ IOMMU_DESTROY, 8, 8 },
	{ IOMMU_IOAS_ALLOC, 12, 12 },
	{ IOMMU_IOAS_ALLOW_IOVAS, 24, 24 },
	{ IOMMU_IOAS_COPY, 40, 40 },
	{ IOMMU_IOAS_IOVA_RANGES, 32, 32 },
	{ IOMMU_IOAS_MAP, 40, 40 },
	{ IOMMU_IOAS_UNMAP, 24, 24 },
	{ IOMMU_OPTION, 24, 24 },
	{ IOMMU_VFIO_IOAS, 12, 12 },
	{ IOMMU_HWPT_ALLOC, 24, 48 },
	{ IOMMU_GET_HW_INFO, 32, 40 },
	{ IOMMU_HWPT_SET_DIRTY_TRACKING, 16, 16 },
	{ IOMMU_HWPT_GET_DIRTY_BITMAP, 48, 48 },
	{ IOMMU_HWPT_INVALIDATE, 32, 32 },
	{ IOMMU_FAULT_QUEUE_ALLOC, 16, 16 },
	{ IOMMU_IOAS_MAP_FILE, 40, 40 },
	{ IOMMU_VIOMMU_ALLOC, 24, 40 },
	{ IOMMU_VDEVICE_ALLOC, 24, 24 },
	{ IOMMU_IOAS_CHANGE_PROCESS, 8, 8 },
	{ IOMMU_VEVENTQ_ALLOC, 28, 32 },
	{ IOMMU_HW_QUEUE_ALLOC, 40, 40 },
	{ IOMMU_TEST_CMD, 68, 72 },
};
#define NCMDS (sizeof(cmds) / sizeof(cmds[0]))

START_TEST(sizes_match_the_table)
{
	unsigned size, min_size;

	ck_assert_int_eq(isim_ioctl_sizes(cmds[_i].cmd, &size, &min_size), 0);
	ck_assert_uint_eq(min_size, cmds[_i].min_size);
	ck_assert_uint_eq(size, cmds[_i].size);
}
END_TEST

START_TEST(short_struct_is_einval)
{
	uint32_t buf[32] = { 0 };

	for (unsigned sz = 0; sz < cmds[_i].min_size; sz++) {
		buf[0] = sz;
		ck_assert_int_eq(isim_ioctl(tfd, cmds[_i].cmd, buf), -EINVAL);
	}
}
END_TEST

START_TEST(nonzero_tail_is_e2big)
{
	uint8_t buf[256] = { 0 };
	uint32_t size = cmds[_i].size + 16;

	memcpy(buf, &size, sizeof(size));
	buf[cmds[_i].size + 15] = 1;
	ck_assert_int_eq(isim_ioctl(tfd, cmds[_i].cmd, buf), -E2BIG);
	buf[cmds[_i].size] = 1;
	buf[cmds[_i].size + 15] = 0;
	ck_assert_int_eq(isim_ioctl(tfd, cmds[_i].cmd, buf), -E2BIG);
}
END_TEST

/* A zero tail passes the generic checks: the handler decides. */
START_TEST(zero_tail_reaches_the_handler)
{
	uint8_t buf[256] = { 0 };
	uint32_t size = cmds[_i].size + 64;
	int rc;

	memcpy(buf, &size, sizeof(size));
	rc = isim_ioctl(tfd, cmds[_i].cmd, buf);
	ck_assert_int_ne(rc, -E2BIG);
	ck_assert_int_ne(rc, -ENOTTY);
}
END_TEST

START_TEST(unreadable_argument_is_efault)
{
	long pg = sysconf(_SC_PAGESIZE);
	uint8_t *map = mmap(NULL, (size_t)pg * 2, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint32_t *tail;

	ck_assert_ptr_ne(map, MAP_FAILED);
	munmap(map + pg, (size_t)pg);
	ck_assert_int_eq(isim_ioctl(tfd, cmds[_i].cmd, NULL), -EFAULT);
	ck_assert_int_eq(isim_ioctl(tfd, cmds[_i].cmd, map + pg), -EFAULT);
	/* The size word is readable but the struct runs off the mapping. */
	tail = (uint32_t *)(map + pg - 4);
	*tail = cmds[_i].size;
	ck_assert_int_eq(isim_ioctl(tfd, cmds[_i].cmd, tail), -EFAULT);
	munmap(map, (size_t)pg);
}
END_TEST

START_TEST(unknown_numbers_are_enotty)
{
	uint32_t buf[32] = { sizeof(buf) };

	/* Empty slots between the last command and IOMMU_TEST_CMD. */
	for (unsigned nr = 0x95; nr < 0xa0; nr++)
		ck_assert_int_eq(isim_ioctl(tfd, _IO(IOMMUFD_TYPE, nr), buf),
				 -ENOTTY);
	ck_assert_int_eq(isim_ioctl(tfd, _IO(IOMMUFD_TYPE, 0xa1), buf), -ENOTTY);
	ck_assert_int_eq(isim_ioctl(tfd, _IO(IOMMUFD_TYPE, 0x7f), buf), -ENOTTY);
	/* Right nr, wrong type char, direction or size bits. */
	ck_assert_int_eq(isim_ioctl(tfd, _IO('x', 0x81), buf), -ENOTTY);
	ck_assert_int_eq(isim_ioctl(tfd, _IOW(IOMMUFD_TYPE, 0x81, uint32_t), buf),
			 -ENOTTY);
	ck_assert_int_eq(isim_ioctl(tfd, _IOR(IOMMUFD_TYPE, 0x80, uint64_t), buf),
			 -ENOTTY);
	/* nr out of range never reads the argument. */
	ck_assert_int_eq(isim_ioctl(tfd, _IO(IOMMUFD_TYPE, 0x10), NULL), -ENOTTY);
}
END_TEST

START_TEST(reply_stays_within_user_size)
{
	struct {
		struct iommu_ioas_alloc cmd;
		uint32_t canary;
	} u = { .cmd = { .size = 12 }, .canary = 0xabcdabcd };
	uint8_t big[64] = { 0 };
	uint32_t size = sizeof(big);

	ck_assert_int_eq(isim_ioctl(tfd, IOMMU_IOAS_ALLOC, &u), 0);
	ck_assert_uint_eq(u.cmd.out_ioas_id, 1);
	ck_assert_uint_eq(u.canary, 0xabcdabcd);
	/* A larger struct: only our 12 bytes are written back. */
	memset(big + 12, 0, sizeof(big) - 12);
	memcpy(big, &size, 4);
	ck_assert_int_eq(isim_ioctl(tfd, IOMMU_IOAS_ALLOC, big), 0);
	ck_assert_uint_eq(((struct iommu_ioas_alloc *)big)->out_ioas_id, 2);
	for (unsigned i = 12; i < sizeof(big); i++)
		ck_assert_uint_eq(big[i], 0);
}
END_TEST

/* A reply that cannot be written rolls the new object back. */
START_TEST(unwritable_reply_rolls_back)
{
	long pg = sysconf(_SC_PAGESIZE);
	struct iommu_ioas_alloc *cmd;
	uint32_t id;
	void *map = mmap(NULL, (size_t)pg, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	cmd = map;
	*cmd = (struct iommu_ioas_alloc){ .size = sizeof(*cmd) };
	mprotect(map, (size_t)pg, PROT_READ);
	ck_assert_int_eq(isim_ioctl(tfd, IOMMU_IOAS_ALLOC, cmd), -EFAULT);
	munmap(map, (size_t)pg);
	ck_assert_int_eq(ioas_alloc(tfd, &id), 0);
	ck_assert_uint_eq(id, 1);
	assert_invariants(tm);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("dispatch");
	TCase *tc = tcase_create("rules");

	tcase_add_checked_fixture(tc, machine_setup, machine_teardown);
	tcase_add_loop_test(tc, sizes_match_the_table, 0, NCMDS);
	tcase_add_loop_test(tc, short_struct_is_einval, 0, NCMDS);
	tcase_add_loop_test(tc, nonzero_tail_is_e2big, 0, NCMDS);
	tcase_add_loop_test(tc, zero_tail_reaches_the_handler, 0, NCMDS);
	tcase_add_loop_test(tc, unreadable_argument_is_efault, 0, NCMDS);
	tcase_add_test(tc, unknown_numbers_are_enotty);
	tcase_add_test(tc, reply_stays_within_user_size);
	tcase_add_test(tc, unwritable_reply_rolls_back);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
