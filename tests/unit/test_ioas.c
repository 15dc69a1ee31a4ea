/*
 * IOAS ioctls (spec/core.md §4, §8.3-§8.9) and the worked examples of §9:
 * check order and errno of every row, automatic IOVA placement, unmap
 * without splitting, COPY sharing pages, allowed and reserved ranges,
 * IOMMU_OPTION.  Without a domain nothing is pinned, so most addresses here
 * need not be real memory.
 */
#include "config.h"

#include "tests/unit/helpers.h"
#include "sim/iommufd/iommufd_private.h"

#define U64_MAX UINT64_MAX
#define VA(x) ((void *)(uintptr_t)(x))

static uint32_t ioas;

static void setup(void)
{
	machine_setup();
	ck_assert_int_eq(ioas_alloc(tfd, &ioas), 0);
}

static void teardown(void)
{
	assert_invariants(tm);
	machine_teardown();
}

START_TEST(iova_ranges_fresh)
{
	struct iommu_iova_range r[2] = { 0 };
	struct iommu_ioas_iova_ranges cmd = {
		.size = sizeof(cmd),
		.ioas_id = ioas,
		.allowed_iovas = (uintptr_t)r,
	};

	ck_assert_int_eq(isim_ioctl(tfd, IOMMU_IOAS_IOVA_RANGES, &cmd),
			 -EMSGSIZE);
	ck_assert_uint_eq(cmd.num_iovas, 1);
	ck_assert_uint_eq(cmd.out_iova_alignment, 1);
	ck_assert_int_eq(isim_ioctl(tfd, IOMMU_IOAS_IOVA_RANGES, &cmd), 0);
	ck_assert_uint_eq(r[0].start, 0);
	ck_assert_uint_eq(r[0].last, U64_MAX);
	cmd.__reserved = 1;
	ck_assert_int_eq(isim_ioctl(tfd, IOMMU_IOAS_IOVA_RANGES, &cmd),
			 -EOPNOTSUPP);
	cmd.__reserved = 0;
	cmd.ioas_id = 99;
	ck_assert_int_eq(isim_ioctl(tfd, IOMMU_IOAS_IOVA_RANGES, &cmd), -ENOENT);
}
END_TEST

/* §8.4, in evaluation order: each row breaks one more rule. */
static const struct map_row {
	const char *what;
	uint32_t flags, reserved, ioas_delta;
	uint64_t va, len, iova;
	int err;
} map_rows[] = {
	{ "unknown flag", RW | 8, 0, 0, 0x1000, 0x1000, 0, -EOPNOTSUPP },
	{ "reserved", RW, 1, 0, 0x1000, 0x1000, 0, -EOPNOTSUPP },
	{ "iova max", RW, 0, 0, 0x1000, 0x1000, U64_MAX, -EOVERFLOW },
	{ "length max", RW, 0, 0, 0x1000, U64_MAX, 0, -EOVERFLOW },
	{ "no prot", 0, 0, 0, 0x1000, 0x1000, 0, -EINVAL },
	{ "prot but no ioas", RW, 0, 7, 0x1000, 0x1000, 0, -ENOENT },
	{ "va wraps", RW, 0, 0, U64_MAX - 0xfff, 0x2000, 0, -EOVERFLOW },
	{ "length 0", RW, 0, 0, 0x1000, 0, 0, -EINVAL },
	{ "fixed overflow", RW | IOMMU_IOAS_MAP_FIXED_IOVA, 0, 0, 0x1000,
	  0x2000, U64_MAX - 0xfff, -EOVERFLOW },
};

START_TEST(map_check_order)
{
	const struct map_row *row = &map_rows[_i];
	struct iommu_ioas_map cmd = {
		.size = sizeof(cmd),
		.flags = row->flags,
		.ioas_id = ioas + row->ioas_delta,
		.__reserved = row->reserved,
		.user_va = row->va,
		.length = row->len,
		.iova = row->iova,
	};

	ck_assert_msg(isim_ioctl(tfd, IOMMU_IOAS_MAP, &cmd) == row->err, "%s",
		      row->what);
}
END_TEST

START_TEST(auto_iova_worked_examples)
{
	uint64_t iova = 0;

	ck_assert_int_eq(ioas_map(tfd, ioas, VA(0x7f0000001000), 0x1000, RW,
				  &iova), 0);
	ck_assert_uint_eq(iova, 0x1000);
	ck_assert_int_eq(ioas_map(tfd, ioas, VA(0x7f0000001000), 0x1000, RW,
				  &iova), 0);
	ck_assert_uint_eq(iova, 0x2000);
	ck_assert_int_eq(ioas_map(tfd, ioas, VA(0x7f0000000000), 0x200000, RW,
				  &iova), 0);
	ck_assert_uint_eq(iova, 0x200000);
	ck_assert_int_eq(ioas_map(tfd, ioas, VA(0x7f0000000800), 0x1000, RW,
				  &iova), 0);
	ck_assert_uint_eq(iova, 0x3800);
	/* FIXED over an existing area; FIXED at 0 is legal. */
	ck_assert_int_eq(ioas_map_fixed(tfd, ioas, VA(0x7f0000001000), 0x1000,
					0x1000), -EEXIST);
	ck_assert_int_eq(ioas_map_fixed(tfd, ioas, VA(0x7f0000001000), 0x1000,
					0), 0);
}
END_TEST

START_TEST(auto_iova_without_thp)
{
	struct isim_machine_config cfg = { .no_thp = true };
	struct isim_machine *m;
	struct isim_fd *fd;
	uint64_t iova = 0;
	uint32_t id;

	ck_assert_int_eq(isim_machine_new(&cfg, &m), 0);
	ck_assert_int_eq(isim_open(m, &fd), 0);
	ck_assert_int_eq(ioas_alloc(fd, &id), 0);
	ck_assert_int_eq(ioas_map(fd, id, VA(0x7f0000001000), 0x2000, RW,
				  &iova), 0);
	ck_assert_uint_eq(iova, 0x1000);
	ck_assert_int_eq(ioas_map(fd, id, VA(0x7f0000000000), 0x200000, RW,
				  &iova), 0);
	ck_assert_uint_eq(iova, 0x3000);
	isim_close(fd);
	isim_machine_free(m);
}
END_TEST

static void map_abc(void)
{
	ck_assert_int_eq(ioas_map_fixed(tfd, ioas, VA(0x10000), 0x1000, 0x1000), 0);
	ck_assert_int_eq(ioas_map_fixed(tfd, ioas, VA(0x20000), 0x1000, 0x2000), 0);
	ck_assert_int_eq(ioas_map_fixed(tfd, ioas, VA(0x30000), 0x1000, 0x5000), 0);
}

START_TEST(unmap_worked_examples)
{
	uint64_t len;

	map_abc();
	ck_assert_int_eq(ioas_unmap(tfd, ioas, 0x1000, 0x2000, &len), 0);
	ck_assert_uint_eq(len, 0x2000);
	ck_assert_int_eq(ioas_unmap(tfd, ioas, 0x5000, 0x1000, &len), 0);

	map_abc();
	ck_assert_int_eq(ioas_unmap(tfd, ioas, 0x1000, 0x5000, &len), 0);
	ck_assert_uint_eq(len, 0x3000);

	/* B sticks out: A is gone anyway and length is not written back. */
	map_abc();
	ck_assert_int_eq(ioas_unmap(tfd, ioas, 0x1000, 0x1800, &len), -ENOENT);
	ck_assert_uint_eq(len, 0x1800);
	ck_assert_int_eq(ioas_map_fixed(tfd, ioas, VA(0x10000), 0x1000, 0x1000), 0);
	/* A sticks out at the front: nothing is removed. */
	ck_assert_int_eq(ioas_unmap(tfd, ioas, 0x1800, 0x1000, NULL), -ENOENT);
	ck_assert_int_eq(ioas_map_fixed(tfd, ioas, VA(0x10000), 0x1000, 0x1000),
			 -EEXIST);
	ck_assert_int_eq(ioas_unmap(tfd, ioas, 0x8000, 0x1000, NULL), -ENOENT);
	ck_assert_int_eq(ioas_unmap(tfd, ioas, 0x1000, 0, NULL), -EINVAL);
	ck_assert_int_eq(ioas_unmap(tfd, ioas, U64_MAX, 1, NULL), -EOVERFLOW);
	ck_assert_int_eq(ioas_unmap(tfd, ioas, U64_MAX - 1, 3, NULL), -EOVERFLOW);
	ck_assert_int_eq(ioas_unmap(tfd, 77, 0x1000, 0x1000, NULL), -ENOENT);
	ck_assert_int_eq(ioas_unmap(tfd, ioas, 0, U64_MAX, &len), 0);
	ck_assert_uint_eq(len, 0x3000);
	ck_assert_int_eq(ioas_unmap(tfd, ioas, 0, U64_MAX, &len), 0);
	ck_assert_uint_eq(len, 0);
}
END_TEST

static int ioas_copy(uint32_t dst, uint32_t src, uint64_t src_iova,
		     uint64_t len, uint32_t flags, uint64_t *dst_iova)
{
	struct iommu_ioas_copy cmd = {
		.size = sizeof(cmd),
		.flags = flags,
		.dst_ioas_id = dst,
		.src_ioas_id = src,
		.length = len,
		.dst_iova = *dst_iova,
		.src_iova = src_iova,
	};
	int rc = isim_ioctl(tfd, IOMMU_IOAS_COPY, &cmd);

	*dst_iova = cmd.dst_iova;
	return rc;
}

START_TEST(copy_shares_pages)
{
	struct iommufd_ioas *src;
	struct iopt_area *a, *b;
	uint32_t dst;
	uint64_t iova = 0;

	ck_assert_int_eq(ioas_alloc(tfd, &dst), 0);
	ck_assert_int_eq(ioas_map(tfd, ioas, VA(0x7f0000000000), 0x3000,
				  IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_FIXED_IOVA,
				  &(uint64_t){ 0x10000 }), 0);
	ck_assert_int_eq(ioas_copy(dst, ioas, 0x11000, 0x1000,
				   IOMMU_IOAS_MAP_READABLE, &iova), 0);
	/* Alignment derives from the source address 0x7f0000001000. */
	ck_assert_uint_eq(iova, 0x1000);
	src = iommufd_get_ioas(&tfd->ictx, ioas);
	a = iopt_area_iter_first(&src->iopt, 0x10000, 0x10000);
	iommufd_put_object(&tfd->ictx, &src->obj);
	src = iommufd_get_ioas(&tfd->ictx, dst);
	b = iopt_area_iter_first(&src->iopt, iova, iova);
	iommufd_put_object(&tfd->ictx, &src->obj);
	ck_assert_ptr_eq(a->pages, b->pages);
	ck_assert_int_eq(atomic_load(&a->pages->kref), 2);
	ck_assert_uint_eq(iopt_area_index(b), 1);

	ck_assert_int_eq(ioas_copy(dst, ioas, 0x10000, 0x1000, RW, &iova),
			 -EPERM);
	ck_assert_int_eq(ioas_copy(dst, ioas, 0x10000, 0x4000,
				   IOMMU_IOAS_MAP_READABLE, &iova), -ENOENT);
	ck_assert_int_eq(ioas_copy(dst, ioas, 0x10000, 0,
				   IOMMU_IOAS_MAP_READABLE, &iova), -EINVAL);
	ck_assert_int_eq(ioas_copy(dst, ioas, 0x10000, 0x1000, 0, &iova),
			 -EINVAL);
	ck_assert_int_eq(ioas_copy(dst, ioas, 0x10000, 0x1000, 8, &iova),
			 -EOPNOTSUPP);
	ck_assert_int_eq(ioas_copy(99, ioas, 0x10000, 0x1000,
				   IOMMU_IOAS_MAP_READABLE, &iova), -ENOENT);
	/* Copy into the same IOAS is allowed. */
	ck_assert_int_eq(ioas_copy(ioas, ioas, 0x10000, 0x3000,
				   IOMMU_IOAS_MAP_READABLE, &iova), 0);
}
END_TEST

static int allow(const struct iommu_iova_range *r, uint32_t n)
{
	struct iommu_ioas_allow_iovas cmd = {
		.size = sizeof(cmd),
		.ioas_id = ioas,
		.num_iovas = n,
		.allowed_iovas = (uintptr_t)r,
	};

	return isim_ioctl(tfd, IOMMU_IOAS_ALLOW_IOVAS, &cmd);
}

START_TEST(allow_iovas)
{
	struct iommu_iova_range one[] = { { 0x100000, 0x1fffff } };
	struct iommu_iova_range bad[] = { { 0x1000, 0x1000 } };
	struct iommu_iova_range overlap[] = { { 0x1000, 0x2fff },
					      { 0x2000, 0x3fff } };
	uint64_t iova = 0;

	ck_assert_int_eq(allow(bad, 1), -EINVAL);
	ck_assert_int_eq(allow(overlap, 2), -EINVAL);
	ck_assert_int_eq(allow(VA(16), 1), -EFAULT);
	ck_assert_int_eq(allow(one, 1), 0);
	ck_assert_int_eq(ioas_map(tfd, ioas, VA(0x7f0000000000), 0x1000, RW,
				  &iova), 0);
	ck_assert_uint_eq(iova, 0x100000);
	/* FIXED maps ignore the allowed set. */
	ck_assert_int_eq(ioas_map_fixed(tfd, ioas, VA(0x7f0000000000), 0x1000,
					0x5000), 0);
	/* Reserving inside the allowed set is refused. */
	{
		struct iommufd_ioas *p = iommufd_get_ioas(&tfd->ictx, ioas);

		ck_assert_int_eq(iopt_reserve_iova(&p->iopt, 0x180000, 0x180fff,
						   NULL), -EADDRINUSE);
		ck_assert_int_eq(iopt_reserve_iova(&p->iopt, 0x300000, 0x300fff,
						   NULL), 0);
		iommufd_put_object(&tfd->ictx, &p->obj);
	}
	/* A new allowed set over the reserved range is refused. */
	one[0].last = 0x3fffff;
	ck_assert_int_eq(allow(one, 1), -EADDRINUSE);
	ck_assert_int_eq(allow(NULL, 0), 0);
	{
		struct iommufd_ioas *p = iommufd_get_ioas(&tfd->ictx, ioas);

		iopt_remove_reserved_iova(&p->iopt, NULL);
		iommufd_put_object(&tfd->ictx, &p->obj);
	}
}
END_TEST

/*
 * Found by tests/fuzz/ioas-fuzzer: the kernel walks the allowed tree as
 * spans, so ranges that touch form one window.  A 0x2000 map aligned to
 * 0x1000 fits [0x1000, 0x2fff] only across the seam at 0x1800.
 */
START_TEST(allow_iovas_adjacent_join)
{
	struct iommu_iova_range two[] = { { 0x1000, 0x17ff },
					  { 0x1800, 0x2fff } };
	uint64_t iova = 0;

	ck_assert_int_eq(allow(two, 2), 0);
	ck_assert_int_eq(ioas_map(tfd, ioas, VA(0x7f0000001000), 0x2000, RW,
				  &iova), 0);
	ck_assert_uint_eq(iova, 0x1000);
}
END_TEST

static int option(uint32_t id, uint16_t op, uint32_t obj, uint64_t *val)
{
	struct iommu_option cmd = {
		.size = sizeof(cmd),
		.option_id = id,
		.op = op,
		.object_id = obj,
		.val64 = *val,
	};
	int rc = isim_ioctl(tfd, IOMMU_OPTION, &cmd);

	*val = cmd.val64;
	return rc;
}

START_TEST(option_rows)
{
	struct isim_fd *fresh;
	uint64_t v = 0;

	ck_assert_int_eq(option(IOMMU_OPTION_RLIMIT_MODE, IOMMU_OPTION_OP_GET, 0,
				&v), 0);
	ck_assert_uint_eq(v, 0);
	v = 1;
	ck_assert_int_eq(option(IOMMU_OPTION_RLIMIT_MODE, IOMMU_OPTION_OP_SET, 0,
				&v), -EBUSY);
	ck_assert_int_eq(option(IOMMU_OPTION_RLIMIT_MODE, IOMMU_OPTION_OP_GET, 1,
				&v), -EOPNOTSUPP);
	ck_assert_int_eq(option(7, IOMMU_OPTION_OP_GET, 0, &v), -EOPNOTSUPP);
	ck_assert_int_eq(option(IOMMU_OPTION_RLIMIT_MODE, 5, 0, &v), -EOPNOTSUPP);
	ck_assert_int_eq(option(IOMMU_OPTION_HUGE_PAGES, IOMMU_OPTION_OP_GET, 99,
				&v), -ENOENT);
	ck_assert_int_eq(option(IOMMU_OPTION_HUGE_PAGES, IOMMU_OPTION_OP_GET,
				ioas, &v), 0);
	ck_assert_uint_eq(v, 1);
	v = 2;
	ck_assert_int_eq(option(IOMMU_OPTION_HUGE_PAGES, IOMMU_OPTION_OP_SET,
				ioas, &v), -EINVAL);
	/* Disabling large pages raises the alignment to PAGE_SIZE. */
	ck_assert_int_eq(ioas_map_fixed(tfd, ioas, VA(0x10800), 0x800, 0x800), 0);
	v = 0;
	ck_assert_int_eq(option(IOMMU_OPTION_HUGE_PAGES, IOMMU_OPTION_OP_SET,
				ioas, &v), -EADDRINUSE);
	ck_assert_int_eq(ioas_unmap(tfd, ioas, 0, U64_MAX, NULL), 0);
	ck_assert_int_eq(option(IOMMU_OPTION_HUGE_PAGES, IOMMU_OPTION_OP_SET,
				ioas, &v), 0);
	ck_assert_int_eq(ioas_map_fixed(tfd, ioas, VA(0x10800), 0x800, 0x800),
			 -EINVAL);
	ck_assert_int_eq(option(IOMMU_OPTION_HUGE_PAGES, IOMMU_OPTION_OP_GET,
				ioas, &v), 0);
	ck_assert_uint_eq(v, 0);

	/* RLIMIT_MODE can be set on an empty context only. */
	ck_assert_int_eq(isim_open(tm, &fresh), 0);
	{
		struct iommu_option cmd = { .size = sizeof(cmd),
					    .option_id = IOMMU_OPTION_RLIMIT_MODE,
					    .op = IOMMU_OPTION_OP_SET, .val64 = 1 };

		ck_assert_int_eq(isim_ioctl(fresh, IOMMU_OPTION, &cmd), 0);
		cmd.val64 = 2;
		ck_assert_int_eq(isim_ioctl(fresh, IOMMU_OPTION, &cmd), -EINVAL);
		cmd.op = IOMMU_OPTION_OP_GET;
		ck_assert_int_eq(isim_ioctl(fresh, IOMMU_OPTION, &cmd), 0);
		ck_assert_uint_eq(cmd.val64, 1);
	}
	isim_close(fresh);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ioas");
	TCase *tc = tcase_create("ioctls");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, iova_ranges_fresh);
	tcase_add_loop_test(tc, map_check_order, 0,
			    sizeof(map_rows) / sizeof(map_rows[0]));
	tcase_add_test(tc, auto_iova_worked_examples);
	tcase_add_test(tc, auto_iova_without_thp);
	tcase_add_test(tc, unmap_worked_examples);
	tcase_add_test(tc, copy_shares_pages);
	tcase_add_test(tc, allow_iovas);
	tcase_add_test(tc, allow_iovas_adjacent_join);
	tcase_add_test(tc, option_rows);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
