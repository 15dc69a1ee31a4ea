/*
 * The paging-domain I/O page table: leaf sizes chosen by alignment, splits
 * on partial unmap, all-or-nothing map under overlap and injected
 * allocation failure, merged iteration, dirty tracking, a randomised
 * comparison with a per-granule array, and lookups racing with map/unmap.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sim/iommufd/domain.h"
#include "sim/lib/fault.h"

/*
 * Every ck_assert records its location with a write to Check's log, so
 * loops over millions of elements test plainly and only fail through Check.
 */
#define expect(cond)                                                         \
	do {                                                                 \
		if (!(cond))                                                 \
			ck_abort_msg("%s:%d: %s", __FILE__, __LINE__, #cond); \
	} while (0)

#define SZ_1K ((uint64_t)1 << 10)
#define SZ_2K ((uint64_t)1 << 11)
#define SZ_4K ((uint64_t)1 << 12)
#define SZ_512K ((uint64_t)1 << 19)
#define SZ_1M ((uint64_t)1 << 20)
#define SZ_2M ((uint64_t)1 << 21)
#define SZ_256M ((uint64_t)1 << 28)
#define SZ_1G ((uint64_t)1 << 30)
#define RW (IOMMUFD_DOMAIN_READ | IOMMUFD_DOMAIN_WRITE)

#define MOCK_APERTURE_START 0x1000000ull
#define MOCK_APERTURE_LAST 0x7fffffffull

static struct iommufd_domain *new_domain(uint64_t bitmap, uint64_t start,
					 uint64_t last)
{
	struct iommufd_domain_geometry g = {
		.pgsize_bitmap = bitmap,
		.aperture_start = start,
		.aperture_last = last,
	};
	struct iommufd_domain *d = NULL;

	ck_assert_int_eq(iommufd_domain_new(&g, &d), 0);
	ck_assert_ptr_nonnull(d);
	return d;
}

/* A normal x86-like domain with 4K, 2M and 1G leaves over 48 bits. */
static struct iommufd_domain *new_std_domain(void)
{
	return new_domain(SZ_4K | SZ_2M | SZ_1G, 0, ((uint64_t)1 << 48) - 1);
}

static void assert_stats(struct iommufd_domain *d, uint64_t l0, uint64_t l1,
			 uint64_t l2)
{
	uint64_t s[IOMMUFD_DOMAIN_LEAF_LEVELS];

	iommufd_domain_stats(d, s);
	ck_assert_msg(s[0] == l0 && s[1] == l1 && s[2] == l2,
		      "leaves %llu/%llu/%llu, want %llu/%llu/%llu",
		      (unsigned long long)s[0], (unsigned long long)s[1],
		      (unsigned long long)s[2], (unsigned long long)l0,
		      (unsigned long long)l1, (unsigned long long)l2);
}

static void assert_phys(struct iommufd_domain *d, uint64_t iova, uint64_t pa,
			int prot)
{
	uint64_t got = 0;
	int got_prot = -1;

	ck_assert_int_eq(iommufd_domain_iova_to_phys(d, iova, &got, &got_prot),
			 0);
	ck_assert_uint_eq(got, pa);
	ck_assert_int_eq(got_prot, prot);
}

static void assert_unmapped(struct iommufd_domain *d, uint64_t iova)
{
	uint64_t pa;

	ck_assert_int_eq(iommufd_domain_iova_to_phys(d, iova, &pa, NULL),
			 -ENOENT);
}

/* ---------------------------------------------- for_each snapshots */

struct range {
	uint64_t iova, pa, len;
	int prot;
};

struct snapshot {
	struct range r[64];
	unsigned int n;
	unsigned int stop_after;	/* return 7 after this many; 0 = never */
};

static int collect(void *arg, uint64_t iova, uint64_t pa, uint64_t len,
		   int prot)
{
	struct snapshot *s = arg;

	ck_assert_uint_lt(s->n, 64);
	s->r[s->n++] = (struct range){ iova, pa, len, prot };
	if (s->stop_after && s->n == s->stop_after)
		return 7;
	return 0;
}

static void take_snapshot(struct iommufd_domain *d, struct snapshot *s)
{
	memset(s, 0, sizeof(*s));
	ck_assert_int_eq(iommufd_domain_for_each(d, 0, UINT64_MAX, collect, s),
			 0);
}

static void assert_same(const struct snapshot *a, const struct snapshot *b)
{
	ck_assert_uint_eq(a->n, b->n);
	for (unsigned int i = 0; i < a->n; i++) {
		ck_assert_uint_eq(a->r[i].iova, b->r[i].iova);
		ck_assert_uint_eq(a->r[i].pa, b->r[i].pa);
		ck_assert_uint_eq(a->r[i].len, b->r[i].len);
		ck_assert_int_eq(a->r[i].prot, b->r[i].prot);
	}
}

static void assert_range(const struct snapshot *s, unsigned int i,
			 uint64_t iova, uint64_t pa, uint64_t len, int prot)
{
	ck_assert_uint_lt(i, s->n);
	ck_assert_uint_eq(s->r[i].iova, iova);
	ck_assert_uint_eq(s->r[i].pa, pa);
	ck_assert_uint_eq(s->r[i].len, len);
	ck_assert_int_eq(s->r[i].prot, prot);
}

/* ------------------------------------------------------------- tests */

START_TEST(geometry_rules)
{
	static const struct {
		uint64_t bitmap, start, last;
		int rc;
	} cases[] = {
		{ SZ_4K | SZ_2M | SZ_1G, 0, UINT64_MAX, 0 },
		{ SZ_2K, MOCK_APERTURE_START, MOCK_APERTURE_LAST, 0 },
		{ SZ_1K, 0, SZ_1M - 1, 0 },
		{ SZ_4K | SZ_2M, SZ_4K, SZ_1G - 1, 0 },
		{ 0, 0, SZ_1G - 1, -EINVAL },			/* no granule */
		{ 512, 0, SZ_1G - 1, -EINVAL },			/* below 1 KiB */
		{ SZ_4K | SZ_1M, 0, SZ_1G - 1, -EINVAL },	/* not 4K << 9 */
		{ SZ_4K | SZ_1G, 0, SZ_1G - 1, -EINVAL },	/* 1G without 2M */
		{ SZ_4K, SZ_1G, SZ_1G - 1, -EINVAL },		/* empty */
		{ SZ_4K, 0x800, SZ_1G - 1, -EINVAL },		/* start */
		{ SZ_4K, 0, SZ_1G - 2, -EINVAL },		/* last + 1 */
	};
	struct iommufd_domain *d;

	for (unsigned int i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct iommufd_domain_geometry g = {
			.pgsize_bitmap = cases[i].bitmap,
			.aperture_start = cases[i].start,
			.aperture_last = cases[i].last,
		};

		d = NULL;
		ck_assert_msg(iommufd_domain_new(&g, &d) == cases[i].rc,
			      "case %u", i);
		if (!cases[i].rc) {
			ck_assert_uint_eq(iommufd_domain_min_pgsize(d),
					  cases[i].bitmap & -cases[i].bitmap);
			iommufd_domain_free(d);
		}
	}
	ck_assert_int_eq(iommufd_domain_new(NULL, &d), -EINVAL);
	iommufd_domain_free(NULL);
}
END_TEST

START_TEST(map_each_leaf_size)
{
	struct iommufd_domain *d = new_std_domain();

	ck_assert_int_eq(iommufd_domain_map(d, 0x1000, 0x5000, SZ_4K,
					    IOMMUFD_DOMAIN_READ), 0);
	assert_stats(d, 1, 0, 0);
	assert_phys(d, 0x1abc, 0x5abc, IOMMUFD_DOMAIN_READ);
	assert_unmapped(d, 0x0fff);
	assert_unmapped(d, 0x2000);

	ck_assert_int_eq(iommufd_domain_map(d, 3 * SZ_2M, 7 * SZ_2M, SZ_2M,
					    RW), 0);
	assert_stats(d, 1, 1, 0);
	assert_phys(d, 3 * SZ_2M + 0x12345, 7 * SZ_2M + 0x12345, RW);

	ck_assert_int_eq(iommufd_domain_map(d, 5 * SZ_1G, 9 * SZ_1G, SZ_1G,
					    IOMMUFD_DOMAIN_WRITE), 0);
	assert_stats(d, 1, 1, 1);
	assert_phys(d, 5 * SZ_1G, 9 * SZ_1G, IOMMUFD_DOMAIN_WRITE);
	assert_phys(d, 6 * SZ_1G - 1, 10 * SZ_1G - 1, IOMMUFD_DOMAIN_WRITE);
	assert_unmapped(d, 6 * SZ_1G);

	ck_assert_uint_eq(iommufd_domain_unmap(d, 5 * SZ_1G, SZ_1G), SZ_1G);
	ck_assert_uint_eq(iommufd_domain_unmap(d, 3 * SZ_2M, SZ_2M), SZ_2M);
	ck_assert_uint_eq(iommufd_domain_unmap(d, 0x1000, SZ_4K), SZ_4K);
	assert_stats(d, 0, 0, 0);
	assert_unmapped(d, 0x1000);
	assert_unmapped(d, 3 * SZ_2M);
	assert_unmapped(d, 5 * SZ_1G);
	/* Unmapping a hole reports nothing. */
	ck_assert_uint_eq(iommufd_domain_unmap(d, 0, SZ_1G), 0);
	iommufd_domain_free(d);
}
END_TEST

static int read_gen(void *arg, uint64_t gen)
{
	*(uint64_t *)arg = gen;
	return 7;
}

static uint64_t unmap_gen(struct iommufd_domain *d)
{
	uint64_t gen = 0;

	ck_assert_int_eq(iommufd_domain_read_locked(d, read_gen, &gen), 7);
	return gen;
}

/* The unmap generation moves on every unmap that removed something only. */
START_TEST(unmap_generation)
{
	struct iommufd_domain *d = new_std_domain();
	uint64_t g0 = unmap_gen(d);

	ck_assert_uint_ne(g0, 0);
	ck_assert_int_eq(iommufd_domain_map(d, 0x1000, 0x5000, 2 * SZ_4K,
					    RW), 0);
	ck_assert_uint_eq(unmap_gen(d), g0);
	ck_assert_uint_eq(iommufd_domain_unmap(d, 0x10000, SZ_4K), 0);
	ck_assert_uint_eq(unmap_gen(d), g0);
	ck_assert_uint_eq(iommufd_domain_unmap(d, 0x2000, SZ_4K), SZ_4K);
	ck_assert_uint_eq(unmap_gen(d), g0 + 1);
	ck_assert_uint_eq(iommufd_domain_unmap(d, 0x1000, SZ_4K), SZ_4K);
	ck_assert_uint_eq(unmap_gen(d), g0 + 2);
	iommufd_domain_free(d);
}
END_TEST

START_TEST(map_rejects_bad_arguments)
{
	struct iommufd_domain *d = new_domain(SZ_4K | SZ_2M, SZ_2M,
					      SZ_1G - 1);

	ck_assert_int_eq(iommufd_domain_map(d, SZ_2M, 0, 0, RW), -EINVAL);
	ck_assert_int_eq(iommufd_domain_map(d, SZ_2M + 1, 0, SZ_4K, RW),
			 -EINVAL);
	ck_assert_int_eq(iommufd_domain_map(d, SZ_2M, 0x800, SZ_4K, RW),
			 -EINVAL);
	ck_assert_int_eq(iommufd_domain_map(d, SZ_2M, 0, SZ_2K, RW), -EINVAL);
	ck_assert_int_eq(iommufd_domain_map(d, SZ_2M, UINT64_MAX - SZ_4K + 1,
					    2 * SZ_4K, RW), -EINVAL);
	/* Outside the aperture, on either side, or wrapping. */
	ck_assert_int_eq(iommufd_domain_map(d, SZ_2M - SZ_4K, 0, SZ_4K, RW),
			 -ERANGE);
	ck_assert_int_eq(iommufd_domain_map(d, SZ_1G - SZ_4K, 0, 2 * SZ_4K,
					    RW), -ERANGE);
	ck_assert_int_eq(iommufd_domain_map(d, SZ_1G, 0, SZ_4K, RW), -ERANGE);
	ck_assert_int_eq(iommufd_domain_map(d, UINT64_MAX - SZ_4K + 1, 0,
					    2 * SZ_4K, RW), -ERANGE);
	assert_stats(d, 0, 0, 0);
	/* The aperture's edges themselves are fine. */
	ck_assert_int_eq(iommufd_domain_map(d, SZ_2M, 0, SZ_4K, RW), 0);
	ck_assert_int_eq(iommufd_domain_map(d, SZ_1G - SZ_4K, 0, SZ_4K, RW),
			 0);
	/* Lookups beyond the aperture must not alias into it. */
	assert_unmapped(d, SZ_2M + ((uint64_t)1 << 39));
	assert_unmapped(d, SZ_1G - SZ_4K + ((uint64_t)1 << 48));
	/* Unaligned unmaps do nothing. */
	ck_assert_uint_eq(iommufd_domain_unmap(d, SZ_2M + 1, SZ_4K), 0);
	ck_assert_uint_eq(iommufd_domain_unmap(d, SZ_2M, SZ_4K - 1), 0);
	ck_assert_uint_eq(iommufd_domain_unmap(d, SZ_2M, 0), 0);
	assert_stats(d, 2, 0, 0);
	/* A window running off the top is clipped, not wrapped. */
	ck_assert_uint_eq(iommufd_domain_unmap(d, 0, UINT64_MAX - SZ_4K + 1),
			  2 * SZ_4K);
	assert_stats(d, 0, 0, 0);
	iommufd_domain_free(d);
}
END_TEST

START_TEST(ranged_map_uses_largest_leaves)
{
	struct iommufd_domain *d = new_std_domain();
	uint64_t iova = 4 * SZ_1G - 3 * SZ_4K;

	/* A 2 MiB aligned run: one level-1 leaf, not 512 entries. */
	ck_assert_int_eq(iommufd_domain_map(d, SZ_2M, 0x40000000, SZ_2M, RW),
			 0);
	assert_stats(d, 0, 1, 0);
	/* The same run with a PA that is only 4K aligned needs 512. */
	ck_assert_int_eq(iommufd_domain_map(d, 2 * SZ_2M, 0x40001000, SZ_2M,
					    RW), 0);
	assert_stats(d, 512, 1, 0);
	/* 256 pages in one call: the benchmark's batched case. */
	ck_assert_int_eq(iommufd_domain_map(d, 8 * SZ_2M, 0, 256 * SZ_4K, RW),
			 0);
	assert_stats(d, 768, 1, 0);
	ck_assert_uint_eq(iommufd_domain_unmap(d, 0, SZ_1G), 2 * SZ_2M + SZ_1M);
	assert_stats(d, 0, 0, 0);

	/*
	 * 3 pages, a 1G leaf, two 2M leaves, 5 pages:
	 * [4G-12K, 4G) [4G, 5G) [5G, 5G+4M) [5G+4M, 5G+4M+20K).
	 */
	ck_assert_int_eq(iommufd_domain_map(d, iova, 16 * SZ_1G + iova,
					    3 * SZ_4K + SZ_1G + 2 * SZ_2M +
						    5 * SZ_4K,
					    RW), 0);
	assert_stats(d, 8, 2, 1);
	assert_phys(d, 5 * SZ_1G + 2 * SZ_2M + 4 * SZ_4K + 8,
		    16 * SZ_1G + 5 * SZ_1G + 2 * SZ_2M + 4 * SZ_4K + 8, RW);
	{
		struct snapshot s;

		take_snapshot(d, &s);
		ck_assert_uint_eq(s.n, 1);
		assert_range(&s, 0, iova, 16 * SZ_1G + iova,
			     8 * SZ_4K + SZ_1G + 2 * SZ_2M, RW);
	}
	/* Large leaves are a property of the geometry. */
	iommufd_domain_free(d);
	d = new_domain(SZ_4K, 0, ((uint64_t)1 << 48) - 1);
	ck_assert_int_eq(iommufd_domain_map(d, SZ_1G, SZ_1G, SZ_1G, RW), 0);
	assert_stats(d, SZ_1G / SZ_4K, 0, 0);
	ck_assert_uint_eq(iommufd_domain_unmap(d, SZ_1G + SZ_4K, SZ_4K), SZ_4K);
	iommufd_domain_free(d);
}
END_TEST

START_TEST(mock_2k_granule)
{
	struct iommufd_domain *d = new_domain(SZ_2K, MOCK_APERTURE_START,
					      MOCK_APERTURE_LAST);
	uint64_t x = MOCK_APERTURE_START;

	ck_assert_uint_eq(iommufd_domain_min_pgsize(d), SZ_2K);
	ck_assert_int_eq(iommufd_domain_map(d, x, 0x10000, SZ_4K, RW), 0);
	ck_assert_int_eq(iommufd_domain_map(d, x + SZ_4K + SZ_2K, 0x20000,
					    SZ_2K, IOMMUFD_DOMAIN_READ), 0);
	assert_stats(d, 3, 0, 0);
	assert_phys(d, x + SZ_2K + 5, 0x10000 + SZ_2K + 5, RW);
	assert_unmapped(d, x + SZ_4K);
	assert_phys(d, x + SZ_4K + SZ_2K, 0x20000, IOMMUFD_DOMAIN_READ);
	ck_assert_int_eq(iommufd_domain_map(d, x + SZ_1K, 0, SZ_2K, RW),
			 -EINVAL);
	ck_assert_int_eq(iommufd_domain_map(d, x - SZ_2K, 0, SZ_2K, RW),
			 -ERANGE);
	ck_assert_int_eq(iommufd_domain_map(d, MOCK_APERTURE_LAST + 1, 0,
					    SZ_2K, RW), -ERANGE);
	/* Without larger sizes in the bitmap a 1 MiB run stays 512 leaves. */
	ck_assert_int_eq(iommufd_domain_map(d, x + SZ_1M, 0, SZ_1M, RW), 0);
	assert_stats(d, 515, 0, 0);
	ck_assert_uint_eq(iommufd_domain_unmap(d, x + SZ_2K, SZ_1M + SZ_1M),
			  SZ_2K + SZ_2K + SZ_1M);
	assert_stats(d, 1, 0, 0);
	iommufd_domain_free(d);

	/* 2K granule with 1M and 512M leaves. */
	d = new_domain(SZ_2K | SZ_1M | (SZ_1M << 9), 0, 4 * SZ_1G - 1);
	ck_assert_int_eq(iommufd_domain_map(d, SZ_1M, 3 * SZ_1M, SZ_1M, RW),
			 0);
	assert_stats(d, 0, 1, 0);
	ck_assert_int_eq(iommufd_domain_map(d, SZ_1G, SZ_1G, 512 * SZ_1M, RW),
			 0);
	assert_stats(d, 0, 1, 1);
	ck_assert_uint_eq(iommufd_domain_unmap(d, SZ_1M + SZ_2K, SZ_2K), SZ_2K);
	assert_stats(d, 511, 0, 1);
	assert_phys(d, SZ_1M + 2 * SZ_2K, 3 * SZ_1M + 2 * SZ_2K, RW);
	iommufd_domain_free(d);
}
END_TEST

START_TEST(partial_unmap_splits)
{
	struct iommufd_domain *d = new_std_domain();
	uint64_t base = SZ_1G, pa = 4 * SZ_1G;
	uint64_t hole = base + SZ_2M + 7 * SZ_4K;
	struct snapshot s;

	ck_assert_int_eq(iommufd_domain_map(d, base, pa, SZ_1G, RW), 0);
	assert_stats(d, 0, 0, 1);

	/* One page out of the middle: 1G → 512 × 2M → one of them → 4K. */
	ck_assert_uint_eq(iommufd_domain_unmap(d, hole, SZ_4K), SZ_4K);
	assert_stats(d, 511, 511, 0);
	assert_unmapped(d, hole);
	assert_phys(d, hole - 1, pa + (hole - 1 - base), RW);
	assert_phys(d, hole + SZ_4K, pa + (hole + SZ_4K - base), RW);
	assert_phys(d, base, pa, RW);
	assert_phys(d, base + SZ_1G - 1, pa + SZ_1G - 1, RW);
	take_snapshot(d, &s);
	ck_assert_uint_eq(s.n, 2);
	assert_range(&s, 0, base, pa, hole - base, RW);
	assert_range(&s, 1, hole + SZ_4K, pa + (hole + SZ_4K - base),
		     base + SZ_1G - hole - SZ_4K, RW);

	/* A range straddling two 2M leaves splits both ends. */
	ck_assert_uint_eq(iommufd_domain_unmap(d, base + 3 * SZ_2M - SZ_4K,
					       2 * SZ_4K), 2 * SZ_4K);
	assert_stats(d, 511 + 1022, 509, 0);
	assert_unmapped(d, base + 3 * SZ_2M - SZ_4K);
	assert_unmapped(d, base + 3 * SZ_2M);
	assert_phys(d, base + 3 * SZ_2M + SZ_4K,
		    pa + 3 * SZ_2M + SZ_4K, RW);

	/* Whole 2M leaves inside a range go without splitting. */
	ck_assert_uint_eq(iommufd_domain_unmap(d, base + 10 * SZ_2M,
					       4 * SZ_2M), 4 * SZ_2M);
	assert_stats(d, 511 + 1022, 505, 0);

	/* Everything else; all tables go away. */
	ck_assert_uint_eq(iommufd_domain_unmap(d, 0, UINT64_MAX - SZ_4K + 1),
			  SZ_1G - 3 * SZ_4K - 4 * SZ_2M);
	assert_stats(d, 0, 0, 0);
	take_snapshot(d, &s);
	ck_assert_uint_eq(s.n, 0);

	/* Two 1G leaves, unmap straddling their boundary: 4 splits. */
	ck_assert_int_eq(iommufd_domain_map(d, SZ_1G, pa, 2 * SZ_1G, RW), 0);
	assert_stats(d, 0, 0, 2);
	ck_assert_uint_eq(iommufd_domain_unmap(d, 2 * SZ_1G - SZ_2M - SZ_4K,
					       2 * SZ_2M + 2 * SZ_4K),
			  2 * SZ_2M + 2 * SZ_4K);
	assert_stats(d, 2 * 511, 2 * 510, 0);
	/* And again right away: the reserve had to be refilled by unmap. */
	ck_assert_uint_eq(iommufd_domain_unmap(d, SZ_1G + 3 * SZ_4K, SZ_4K),
			  SZ_4K);
	ck_assert_uint_eq(iommufd_domain_unmap(d, 2 * SZ_1G + SZ_1G / 2,
					       SZ_4K), SZ_4K);
	iommufd_domain_free(d);
}
END_TEST

START_TEST(overlap_leaves_state_unchanged)
{
	struct iommufd_domain *d = new_std_domain();
	struct snapshot before, after;
	uint64_t s0[3], s1[3];

	ck_assert_int_eq(iommufd_domain_map(d, SZ_1G, 0, SZ_2M, RW), 0);
	ck_assert_int_eq(iommufd_domain_map(d, SZ_1G + 5 * SZ_2M, SZ_1G,
					    SZ_4K, IOMMUFD_DOMAIN_READ), 0);
	take_snapshot(d, &before);
	iommufd_domain_stats(d, s0);

	/* Overlaps at the start, the end, inside, and spanning both. */
	ck_assert_int_eq(iommufd_domain_map(d, SZ_1G - SZ_4K, 0, 2 * SZ_4K,
					    RW), -EEXIST);
	ck_assert_int_eq(iommufd_domain_map(d, SZ_1G + SZ_2M - SZ_4K, 0,
					    SZ_2M, RW), -EEXIST);
	ck_assert_int_eq(iommufd_domain_map(d, SZ_1G + SZ_4K, 0, SZ_4K, RW),
			 -EEXIST);
	ck_assert_int_eq(iommufd_domain_map(d, SZ_1G + 4 * SZ_2M, 0,
					    2 * SZ_2M, RW), -EEXIST);
	ck_assert_int_eq(iommufd_domain_map(d, 0, 0, 4 * SZ_1G, RW), -EEXIST);

	take_snapshot(d, &after);
	iommufd_domain_stats(d, s1);
	assert_same(&before, &after);
	ck_assert_int_eq(memcmp(s0, s1, sizeof(s0)), 0);
	/* Right next to existing leaves is not an overlap. */
	ck_assert_int_eq(iommufd_domain_map(d, SZ_1G + SZ_2M, SZ_2M, SZ_4K,
					    RW), 0);
	iommufd_domain_free(d);
}
END_TEST

START_TEST(for_each_merges)
{
	struct iommufd_domain *d = new_std_domain();
	struct snapshot s;

	/* Two maps contiguous in IOVA and PA with equal prot: one range. */
	ck_assert_int_eq(iommufd_domain_map(d, SZ_2M - SZ_4K, 0x100000 - SZ_4K,
					    SZ_4K, RW), 0);
	ck_assert_int_eq(iommufd_domain_map(d, SZ_2M, 0x100000, SZ_4K, RW), 0);
	/* Contiguous IOVA, but the PA jumps. */
	ck_assert_int_eq(iommufd_domain_map(d, SZ_2M + SZ_4K, 0x900000, SZ_4K,
					    RW), 0);
	/* Contiguous in both, different prot. */
	ck_assert_int_eq(iommufd_domain_map(d, SZ_2M + 2 * SZ_4K,
					    0x900000 + SZ_4K, SZ_4K,
					    IOMMUFD_DOMAIN_READ), 0);
	/* After a hole, a 2M leaf followed by pages continuing its PA. */
	ck_assert_int_eq(iommufd_domain_map(d, 2 * SZ_2M, 4 * SZ_2M, SZ_2M,
					    RW), 0);
	ck_assert_int_eq(iommufd_domain_map(d, 3 * SZ_2M, 5 * SZ_2M,
					    3 * SZ_4K, RW), 0);

	take_snapshot(d, &s);
	ck_assert_uint_eq(s.n, 4);
	assert_range(&s, 0, SZ_2M - SZ_4K, 0x100000 - SZ_4K, 2 * SZ_4K, RW);
	assert_range(&s, 1, SZ_2M + SZ_4K, 0x900000, SZ_4K, RW);
	assert_range(&s, 2, SZ_2M + 2 * SZ_4K, 0x900000 + SZ_4K, SZ_4K,
		     IOMMUFD_DOMAIN_READ);
	assert_range(&s, 3, 2 * SZ_2M, 4 * SZ_2M, SZ_2M + 3 * SZ_4K, RW);

	/* A window clips the ranges at both ends. */
	memset(&s, 0, sizeof(s));
	ck_assert_int_eq(iommufd_domain_for_each(d, SZ_2M + 0x123,
						 2 * SZ_2M + 0x1fff, collect,
						 &s), 0);
	ck_assert_uint_eq(s.n, 4);
	assert_range(&s, 0, SZ_2M + 0x123, 0x100000 + 0x123, SZ_4K - 0x123,
		     RW);
	assert_range(&s, 3, 2 * SZ_2M, 4 * SZ_2M, 0x2000, RW);

	/* Early stop returns the callback's value. */
	memset(&s, 0, sizeof(s));
	s.stop_after = 2;
	ck_assert_int_eq(iommufd_domain_for_each(d, 0, UINT64_MAX, collect,
						 &s), 7);
	ck_assert_uint_eq(s.n, 2);
	memset(&s, 0, sizeof(s));
	s.stop_after = 4;
	ck_assert_int_eq(iommufd_domain_for_each(d, 0, UINT64_MAX, collect,
						 &s), 7);
	ck_assert_int_eq(iommufd_domain_for_each(d, 5, 4, collect, &s),
			 -EINVAL);
	iommufd_domain_free(d);
}
END_TEST

/* ------------------------------------------------------------- dirty */

struct dirty_log {
	uint64_t iova[2048];
	unsigned int n;
};

static void log_dirty(void *arg, uint64_t iova)
{
	struct dirty_log *l = arg;

	ck_assert_uint_lt(l->n, 2048);
	if (l->n)
		ck_assert_uint_gt(iova, l->iova[l->n - 1]);
	l->iova[l->n++] = iova;
}

static unsigned int read_dirty(struct iommufd_domain *d, uint64_t iova,
			       uint64_t len, uint64_t pgsize, bool no_clear,
			       struct dirty_log *l)
{
	memset(l, 0, sizeof(*l));
	ck_assert_int_eq(iommufd_domain_read_and_clear_dirty(d, iova, len,
							     pgsize, no_clear,
							     log_dirty, l),
			 0);
	return l->n;
}

START_TEST(dirty_tracking)
{
	struct iommufd_domain *d = new_std_domain();
	static struct dirty_log l;

	ck_assert_int_eq(iommufd_domain_map(d, SZ_1G, 0, 16 * SZ_4K, RW), 0);
	ck_assert_int_eq(iommufd_domain_map(d, SZ_1G + SZ_2M, SZ_2M, SZ_2M,
					    RW), 0);

	/* Off: writes leave no trace and reading is refused. */
	ck_assert_int_eq(iommufd_domain_mark_dirty(d, SZ_1G, SZ_4K), 0);
	ck_assert_int_eq(iommufd_domain_read_and_clear_dirty(
				 d, SZ_1G, SZ_4K, SZ_4K, false, log_dirty, &l),
			 -EINVAL);
	iommufd_domain_set_dirty_tracking(d, true);
	ck_assert_uint_eq(read_dirty(d, SZ_1G, SZ_2M, SZ_4K, false, &l), 0);

	/* A write of a few bytes across a page boundary dirties both. */
	ck_assert_int_eq(iommufd_domain_mark_dirty(d, SZ_1G + 3 * SZ_4K - 2,
						   4), 0);
	ck_assert_int_eq(iommufd_domain_mark_dirty(d, SZ_1G + 9 * SZ_4K, 1),
			 0);
	ck_assert_uint_eq(read_dirty(d, SZ_1G, SZ_2M, SZ_4K, true, &l), 3);
	ck_assert_uint_eq(l.iova[0], SZ_1G + 2 * SZ_4K);
	ck_assert_uint_eq(l.iova[1], SZ_1G + 3 * SZ_4K);
	ck_assert_uint_eq(l.iova[2], SZ_1G + 9 * SZ_4K);
	/* NO_CLEAR kept them; a clearing read sees them once more. */
	ck_assert_uint_eq(read_dirty(d, SZ_1G, SZ_2M, SZ_4K, false, &l), 3);
	ck_assert_uint_eq(read_dirty(d, SZ_1G, SZ_2M, SZ_4K, false, &l), 0);

	/* A coarser bitmap page folds neighbouring leaves into one bit. */
	ck_assert_int_eq(iommufd_domain_mark_dirty(d, SZ_1G + 4 * SZ_4K,
						   2 * SZ_4K), 0);
	ck_assert_uint_eq(read_dirty(d, SZ_1G, SZ_2M, 4 * SZ_4K, false, &l),
			  1);
	ck_assert_uint_eq(l.iova[0], SZ_1G + 4 * SZ_4K);
	iommufd_domain_free(d);
}
END_TEST

START_TEST(dirty_large_leaf)
{
	struct iommufd_domain *d = new_std_domain();
	static struct dirty_log l;

	ck_assert_int_eq(iommufd_domain_map(d, SZ_1G, SZ_1G, SZ_2M, RW), 0);
	iommufd_domain_set_dirty_tracking(d, true);
	/* One byte dirties the whole 2M leaf: 512 pages, or one 2M page. */
	ck_assert_int_eq(iommufd_domain_mark_dirty(d, SZ_1G + 0x12345, 1), 0);
	ck_assert_uint_eq(read_dirty(d, SZ_1G, SZ_2M, SZ_2M, true, &l), 1);
	ck_assert_uint_eq(l.iova[0], SZ_1G);
	ck_assert_uint_eq(read_dirty(d, SZ_1G, SZ_2M, SZ_4K, true, &l), 512);
	ck_assert_uint_eq(l.iova[511], SZ_1G + SZ_2M - SZ_4K);
	/* A read over part of the leaf reports that part and keeps the bit. */
	ck_assert_uint_eq(read_dirty(d, SZ_1G + SZ_4K, 2 * SZ_4K, SZ_4K, false,
				     &l), 2);
	ck_assert_uint_eq(l.iova[0], SZ_1G + SZ_4K);
	ck_assert_uint_eq(read_dirty(d, SZ_1G, SZ_2M, SZ_4K, false, &l), 512);
	ck_assert_uint_eq(read_dirty(d, SZ_1G, SZ_2M, SZ_4K, false, &l), 0);

	/* A split keeps the bit in every piece. */
	ck_assert_int_eq(iommufd_domain_mark_dirty(d, SZ_1G, 1), 0);
	ck_assert_uint_eq(iommufd_domain_unmap(d, SZ_1G + SZ_4K, SZ_4K), SZ_4K);
	ck_assert_uint_eq(read_dirty(d, SZ_1G, SZ_2M, SZ_4K, false, &l), 511);
	ck_assert_uint_eq(l.iova[1], SZ_1G + 2 * SZ_4K);

	/* Unmapped bytes fault the write and mark nothing. */
	ck_assert_int_eq(iommufd_domain_mark_dirty(d, SZ_1G, 2 * SZ_4K),
			 -ENOENT);
	ck_assert_int_eq(iommufd_domain_mark_dirty(d, SZ_1G + SZ_2M - 1, 2),
			 -ENOENT);
	ck_assert_int_eq(iommufd_domain_mark_dirty(d, 0, 1), -ENOENT);
	ck_assert_int_eq(iommufd_domain_mark_dirty(d, SZ_1G, 0), -EINVAL);
	ck_assert_uint_eq(read_dirty(d, SZ_1G, SZ_2M, SZ_4K, false, &l), 0);

	/* Enabling again after a disable forgets stale bits. */
	ck_assert_int_eq(iommufd_domain_mark_dirty(d, SZ_1G, SZ_4K), 0);
	iommufd_domain_set_dirty_tracking(d, false);
	iommufd_domain_set_dirty_tracking(d, true);
	ck_assert_uint_eq(read_dirty(d, SZ_1G, SZ_2M, SZ_4K, false, &l), 0);

	/* Argument checks. */
	ck_assert_int_eq(iommufd_domain_read_and_clear_dirty(
				 d, SZ_1G, SZ_2M, 3 * SZ_4K, false, log_dirty,
				 &l), -EINVAL);
	ck_assert_int_eq(iommufd_domain_read_and_clear_dirty(
				 d, SZ_1G + SZ_2K, SZ_4K, SZ_4K, false,
				 log_dirty, &l), -EINVAL);
	ck_assert_int_eq(iommufd_domain_read_and_clear_dirty(
				 d, SZ_1G, 0, SZ_4K, false, log_dirty, &l),
			 -EINVAL);
	iommufd_domain_free(d);
}
END_TEST

START_TEST(dirty_2k_granule)
{
	struct iommufd_domain *d = new_domain(SZ_2K, MOCK_APERTURE_START,
					      MOCK_APERTURE_LAST);
	uint64_t x = MOCK_APERTURE_START;
	static struct dirty_log l;

	ck_assert_int_eq(iommufd_domain_map(d, x, 0, 8 * SZ_2K, RW), 0);
	iommufd_domain_set_dirty_tracking(d, true);
	ck_assert_int_eq(iommufd_domain_mark_dirty(d, x + SZ_2K, SZ_2K), 0);
	ck_assert_int_eq(iommufd_domain_mark_dirty(d, x + 5 * SZ_2K, 1), 0);
	/* 2K bitmap pages: exactly the written leaves. */
	ck_assert_uint_eq(read_dirty(d, x, 8 * SZ_2K, SZ_2K, true, &l), 2);
	ck_assert_uint_eq(l.iova[0], x + SZ_2K);
	ck_assert_uint_eq(l.iova[1], x + 5 * SZ_2K);
	/* 4K pages: each leaf reports the page around it. */
	ck_assert_uint_eq(read_dirty(d, x, 8 * SZ_2K, SZ_4K, true, &l), 2);
	ck_assert_uint_eq(l.iova[0], x);
	ck_assert_uint_eq(l.iova[1], x + 2 * SZ_4K);
	/* 1K pages: both halves of each leaf. */
	ck_assert_uint_eq(read_dirty(d, x, 8 * SZ_2K, SZ_1K, false, &l), 4);
	ck_assert_uint_eq(l.iova[1], x + SZ_2K + SZ_1K);
	ck_assert_uint_eq(read_dirty(d, x, 8 * SZ_2K, SZ_2K, false, &l), 0);
	/* Two dirty leaves in one 4K page are reported once. */
	ck_assert_int_eq(iommufd_domain_mark_dirty(d, x, 2 * SZ_2K), 0);
	ck_assert_uint_eq(read_dirty(d, x, 8 * SZ_2K, SZ_4K, false, &l), 1);
	ck_assert_uint_eq(l.iova[0], x);
	iommufd_domain_free(d);
}
END_TEST

/* ------------------------------------------------------ fault injection */

/*
 * The swept map, [512G - 28K, 513G + 6M + 36K), needs three new tables
 * (a level-0 one for its first pages, a level-1 one past its 1G leaf, and
 * a level-0 one for its last pages), so failures land before any leaf and
 * after some; it also shares a level-1 and a level-2 table with the two
 * mappings made first.
 */
START_TEST(map_fail_nth_sweep)
{
	uint64_t iova = 512 * SZ_1G - 7 * SZ_4K, pa = ((uint64_t)1 << 40) + iova;
	uint64_t len = 7 * SZ_4K + SZ_1G + 3 * SZ_2M + 9 * SZ_4K;
	unsigned int n, failed_maps = 0;

	for (n = 1; n < 100; n++) {
		struct iommufd_domain_geometry g = {
			.pgsize_bitmap = SZ_4K | SZ_2M | SZ_1G,
			.aperture_start = 0,
			.aperture_last = ((uint64_t)1 << 48) - 1,
		};
		struct snapshot before, after;
		struct iommufd_domain *d;
		uint64_t s0[3], s1[3];
		int rc;

		isim_fail_nth_set(n);
		rc = iommufd_domain_new(&g, &d);
		if (rc) {
			isim_fail_nth_set(0);
			ck_assert_int_eq(rc, -ENOMEM);
			continue;
		}
		if (iommufd_domain_map(d, 512 * SZ_1G - 2 * SZ_2M, 0, SZ_4K,
				       RW) ||
		    iommufd_domain_map(d, 514 * SZ_1G, 0, SZ_4K, RW)) {
			isim_fail_nth_set(0);
			iommufd_domain_free(d);
			continue;
		}
		take_snapshot(d, &before);
		iommufd_domain_stats(d, s0);
		rc = iommufd_domain_map(d, iova, pa, len, RW);
		isim_fail_nth_set(0);
		if (rc) {
			ck_assert_int_eq(rc, -ENOMEM);
			failed_maps++;
			take_snapshot(d, &after);
			iommufd_domain_stats(d, s1);
			assert_same(&before, &after);
			ck_assert_int_eq(memcmp(s0, s1, sizeof(s0)), 0);
			/* The domain still works: the same map now succeeds. */
			ck_assert_int_eq(iommufd_domain_map(d, iova, pa, len,
							    RW), 0);
			iommufd_domain_free(d);
			continue;
		}
		assert_stats(d, 7 + 9 + 2, 3, 1);
		assert_phys(d, iova, pa, RW);
		assert_phys(d, iova + len - 1, pa + len - 1, RW);
		ck_assert_uint_eq(iommufd_domain_unmap(d, iova, len), len);
		iommufd_domain_free(d);
		break;
	}
	/* Every table the swept map allocates failed once. */
	ck_assert_uint_eq(failed_maps, 3);
	ck_assert_uint_lt(n, 100);
}
END_TEST

/* ------------------------------------------------------- model check */

/*
 * A 1 KiB granule domain with 512 KiB and 256 MiB leaves over 512 MiB, so
 * every leaf size occurs while the model (one entry per granule) stays
 * small.
 */
#define M_GRANULE SZ_1K
#define M_SPAN (2 * SZ_256M)
#define M_NGRAN (M_SPAN / M_GRANULE)
#define M_UNMAPPED UINT64_MAX

static uint64_t *model_pa;	/* per granule; M_UNMAPPED or PA */
static uint8_t *model_prot;

static uint64_t rnd(unsigned int *seed, uint64_t n)
{
	uint64_t r = (uint64_t)rand_r(seed) << 31 ^ (uint64_t)rand_r(seed);

	return n ? r % n : 0;
}

/* A granule count, with sizes that make large leaves now and then. */
static uint64_t rnd_len(unsigned int *seed)
{
	switch (rnd(seed, 8)) {
	case 0:
	case 1:
	case 2:
		return 1 + rnd(seed, 8);
	case 3:
	case 4:
		return 1 + rnd(seed, 2048);
	case 5:
	case 6:
		return 512 * (1 + rnd(seed, 4)) + rnd(seed, 3);
	default:
		return 262144 + rnd(seed, 1024);
	}
}

static uint64_t rnd_addr(unsigned int *seed, uint64_t limit)
{
	uint64_t align = (const uint64_t[]){ M_GRANULE, SZ_512K, SZ_256M,
					     M_GRANULE }[rnd(seed, 4)];

	return rnd(seed, limit / align) * align;
}

struct model_walk {
	uint64_t next;		/* next granule index expected mapped */
};

static int model_check_range(void *arg, uint64_t iova, uint64_t pa,
			     uint64_t len, int prot)
{
	struct model_walk *w = arg;
	uint64_t first = iova / M_GRANULE, n = len / M_GRANULE;

	ck_assert_uint_eq(iova % M_GRANULE, 0);
	ck_assert_uint_eq(len % M_GRANULE, 0);
	/* Everything between the previous range and this one is a hole. */
	for (uint64_t g = w->next; g < first; g++)
		expect(model_pa[g] == M_UNMAPPED);
	for (uint64_t k = 0; k < n; k++) {
		expect(model_pa[first + k] == pa + k * M_GRANULE);
		expect(model_prot[first + k] == prot);
	}
	/* Maximal merging: the next granule cannot continue this range. */
	if (first + n < M_NGRAN && model_pa[first + n] != M_UNMAPPED)
		ck_assert(model_pa[first + n] != pa + len ||
			  model_prot[first + n] != prot);
	w->next = first + n;
	return 0;
}

static uint64_t model_mapped_granules(void)
{
	uint64_t mapped = 0;

	for (uint64_t g = 0; g < M_NGRAN; g++)
		mapped += model_pa[g] != M_UNMAPPED;
	return mapped;
}

static void model_compare(struct iommufd_domain *d)
{
	struct model_walk w = { 0 };
	uint64_t s[3];

	ck_assert_int_eq(iommufd_domain_for_each(d, 0, UINT64_MAX,
						 model_check_range, &w), 0);
	for (uint64_t g = w.next; g < M_NGRAN; g++)
		expect(model_pa[g] == M_UNMAPPED);
	iommufd_domain_stats(d, s);
	ck_assert_uint_eq(s[0] + s[1] * 512 + s[2] * 512 * 512,
			  model_mapped_granules());
}

START_TEST(matches_model)
{
	struct iommufd_domain *d = new_domain(M_GRANULE | SZ_512K | SZ_256M, 0,
					      M_SPAN - 1);
	unsigned int seed = 1234;
	uint64_t maps_ok = 0, large = 0;

	model_pa = malloc(M_NGRAN * sizeof(*model_pa));
	model_prot = calloc(M_NGRAN, 1);
	ck_assert_ptr_nonnull(model_pa);
	ck_assert_ptr_nonnull(model_prot);
	for (uint64_t g = 0; g < M_NGRAN; g++)
		model_pa[g] = M_UNMAPPED;

	for (int step = 0; step < 2500; step++) {
		uint64_t iova = rnd_addr(&seed, M_SPAN);
		uint64_t len = rnd_len(&seed) * M_GRANULE;
		uint64_t first = iova / M_GRANULE;
		unsigned int op = (unsigned int)rnd(&seed, 40);

		if (op < 20) {
			uint64_t pa = rnd_addr(&seed, (uint64_t)1 << 40);
			int prot = 1 + (int)rnd(&seed, 3), want = 0, rc;

			if (iova + len > M_SPAN)
				want = -ERANGE;
			for (uint64_t k = 0; !want && k < len / M_GRANULE; k++)
				if (model_pa[first + k] != M_UNMAPPED)
					want = -EEXIST;
			rc = iommufd_domain_map(d, iova, pa, len, prot);
			ck_assert_int_eq(rc, want);
			if (rc)
				continue;
			maps_ok++;
			for (uint64_t k = 0; k < len / M_GRANULE; k++) {
				model_pa[first + k] = pa + k * M_GRANULE;
				model_prot[first + k] = (uint8_t)prot;
			}
		} else if (op < 38) {
			uint64_t want = 0;

			for (uint64_t k = first;
			     k < first + len / M_GRANULE && k < M_NGRAN; k++) {
				if (model_pa[k] != M_UNMAPPED)
					want += M_GRANULE;
				model_pa[k] = M_UNMAPPED;
			}
			ck_assert_uint_eq(iommufd_domain_unmap(d, iova, len),
					  want);
		} else {
			model_compare(d);
		}
		/* A few random lookups every step. */
		for (int k = 0; k < 4; k++) {
			uint64_t at = rnd(&seed, M_SPAN);
			uint64_t g = at / M_GRANULE, pa;
			int prot;
			int rc = iommufd_domain_iova_to_phys(d, at, &pa, &prot);

			if (model_pa[g] == M_UNMAPPED) {
				ck_assert_int_eq(rc, -ENOENT);
			} else {
				ck_assert_int_eq(rc, 0);
				ck_assert_uint_eq(pa, model_pa[g] +
							      at % M_GRANULE);
				ck_assert_int_eq(prot, model_prot[g]);
			}
		}
		{
			uint64_t s[3];

			iommufd_domain_stats(d, s);
			large += s[1] + s[2] != 0;
		}
	}
	model_compare(d);
	/* The walk exercised real work and large leaves. */
	ck_assert_uint_gt(maps_ok, 200);
	ck_assert_uint_gt(large, 100);
	ck_assert_uint_eq(iommufd_domain_unmap(d, 0, M_SPAN),
			  model_mapped_granules() * M_GRANULE);
	assert_stats(d, 0, 0, 0);
	iommufd_domain_free(d);
	free(model_pa);
	free(model_prot);
}
END_TEST

/* ------------------------------------------------------- concurrency */

struct race {
	struct iommufd_domain *d;
	_Atomic int stop;
	_Atomic unsigned long hits;
	_Atomic unsigned long wrong;	/* checked by the main thread */
};

static void *race_lookup(void *arg)
{
	struct race *r = arg;

	while (!r->stop) {
		for (uint64_t off = 0; off < 4 * SZ_2M; off += SZ_2M / 4) {
			uint64_t pa;
			int prot;

			/* Whatever the mapping state, a hit is the right PA. */
			if (!iommufd_domain_iova_to_phys(r->d, SZ_1G + off, &pa,
							 &prot)) {
				if (pa != SZ_1G * 8 + off || prot != RW)
					r->wrong++;
				r->hits++;
			}
		}
	}
	return NULL;
}

START_TEST(lookups_race_with_map_unmap)
{
	struct race r = { .d = new_std_domain() };
	pthread_t t[2];

	for (int i = 0; i < 2; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, race_lookup, &r),
				 0);
	for (int i = 0; i < 300; i++) {
		uint64_t len = (i % 3 + 1) * SZ_2M;

		ck_assert_int_eq(iommufd_domain_map(r.d, SZ_1G, SZ_1G * 8, len,
						    RW), 0);
		/* Partial unmaps split leaves under the readers' feet. */
		iommufd_domain_unmap(r.d, SZ_1G + SZ_4K * (uint64_t)(i % 7),
				     SZ_4K);
		ck_assert_uint_le(iommufd_domain_unmap(r.d, SZ_1G, len), len);
	}
	r.stop = 1;
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	ck_assert_uint_eq(r.wrong, 0);
	assert_stats(r.d, 0, 0, 0);
	iommufd_domain_free(r.d);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("domain");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, geometry_rules);
	tcase_add_test(tc, map_each_leaf_size);
	tcase_add_test(tc, unmap_generation);
	tcase_add_test(tc, map_rejects_bad_arguments);
	tcase_add_test(tc, ranged_map_uses_largest_leaves);
	tcase_add_test(tc, mock_2k_granule);
	tcase_add_test(tc, partial_unmap_splits);
	tcase_add_test(tc, overlap_leaves_state_unchanged);
	tcase_add_test(tc, for_each_merges);
	tcase_add_test(tc, dirty_tracking);
	tcase_add_test(tc, dirty_large_leaf);
	tcase_add_test(tc, dirty_2k_granule);
	tcase_add_test(tc, map_fail_nth_sweep);
	tcase_add_test(tc, matches_model);
	tcase_add_test(tc, lookups_race_with_map_unmap);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
