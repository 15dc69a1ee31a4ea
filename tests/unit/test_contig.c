/*
 * Contiguity checks: the three algorithms must agree with each other, with
 * the run form of the same array, and with what the generator of each
 * array knows the answer to be, on edge cases and on thousands of seeded
 * random layouts.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "sim/iommufd/contig.h"
#include "sim/lib/pfn_run.h"

/*
 * Every ck_assert records its location with a write to Check's log, so
 * loops over millions of elements test plainly and only fail through Check.
 */
#define expect(cond)                                                         \
	do {                                                                 \
		if (!(cond))                                                 \
			ck_abort_msg("%s:%d: %s", __FILE__, __LINE__, #cond); \
	} while (0)

#define MAX_N 5000

static const enum isim_contig_algo algos[] = {
	ISIM_CONTIG_PER_PAGE,
	ISIM_CONTIG_BLOCK,
	ISIM_CONTIG_RUNS,
};
#define NR_ALGOS (sizeof(algos) / sizeof(algos[0]))

static uint64_t rnd64(unsigned int *seed)
{
	return (uint64_t)rand_r(seed) << 42 ^ (uint64_t)rand_r(seed) << 21 ^
	       (uint64_t)rand_r(seed);
}

/*
 * Every algorithm, and the runs built from the array, must give @want.
 * The runs must also expand back into exactly the array.
 */
static void check_all(const uint64_t *pfns, size_t n, bool want,
		      const char *what)
{
	static struct isim_pfn_run runs[MAX_N];
	size_t nruns, k = 0;

	for (unsigned int a = 0; a < NR_ALGOS; a++)
		if (isim_contig_pfns(algos[a], pfns, n) != want)
			ck_abort_msg("%s: %s gave %d for n=%zu", what,
				     isim_contig_algo_name(algos[a]), !want, n);

	nruns = isim_pfns_to_runs(pfns, n, runs, MAX_N);
	expect(nruns <= n);
	if (isim_contig_runs(runs, nruns) != want)
		ck_abort_msg("%s: runs gave %d for n=%zu", what, !want, n);
	/* A contiguous array is exactly one maximal run (none when empty). */
	expect(n ? (nruns == 1) == want : nruns == 0);
	for (size_t r = 0; r < nruns; r++) {
		expect(runs[r].npages > 0);
		for (uint64_t p = 0; p < runs[r].npages; p++)
			expect(pfns[k++] == runs[r].pfn + p);
	}
	expect(k == n);
}

START_TEST(names_round_trip)
{
	enum isim_contig_algo a;

	for (unsigned int i = 0; i < NR_ALGOS; i++) {
		const char *name = isim_contig_algo_name(algos[i]);

		ck_assert_ptr_nonnull(name);
		ck_assert_int_eq(isim_contig_algo_parse(name, &a), 0);
		ck_assert_int_eq(a, algos[i]);
	}
	ck_assert_str_eq(isim_contig_algo_name(ISIM_CONTIG_PER_PAGE),
			 "per-page");
	ck_assert_str_eq(isim_contig_algo_name(ISIM_CONTIG_BLOCK), "block");
	ck_assert_str_eq(isim_contig_algo_name(ISIM_CONTIG_RUNS), "runs");
	ck_assert_ptr_null(isim_contig_algo_name((enum isim_contig_algo)3));
	ck_assert_ptr_null(isim_contig_algo_name((enum isim_contig_algo)-1));
	ck_assert_int_eq(isim_contig_algo_parse("Block", &a), -EINVAL);
	ck_assert_int_eq(isim_contig_algo_parse("", &a), -EINVAL);
	ck_assert_int_eq(isim_contig_algo_parse(NULL, &a), -EINVAL);
}
END_TEST

START_TEST(edge_cases)
{
	static uint64_t p[64];
	const uint64_t top = UINT64_MAX - 2;

	check_all(p, 0, true, "empty");
	p[0] = 12345;
	check_all(p, 1, true, "single");
	for (size_t n = 2; n <= 64; n++) {
		for (size_t i = 0; i < n; i++)
			p[i] = 1000 + i;
		check_all(p, n, true, "contiguous");
		/* A break at every position, in every block slot. */
		for (size_t b = 1; b < n; b++) {
			p[b] += 1;
			check_all(p, n, false, "one break");
			p[b] -= 2;
			check_all(p, n, false, "one step back");
			p[b] += 1;
		}
		/* The first PFN off: everything after it disagrees. */
		p[0] -= 1;
		check_all(p, n, false, "first off");
		p[0] += 1;
	}
	/* Wrapping past the top of the PFN space is consecutive mod 2^64. */
	for (size_t i = 0; i < 20; i++)
		p[i] = top + i;
	check_all(p, 20, true, "wrap");
	/* Equal PFNs are not consecutive. */
	p[0] = p[1] = 7;
	check_all(p, 2, false, "duplicate");
}
END_TEST

START_TEST(runs_chain)
{
	struct isim_pfn_run r[4] = {
		{ 100, 3 }, { 103, 0 }, { 103, 5 }, { 108, 1 },
	};

	ck_assert(isim_contig_runs(r, 0));
	ck_assert(isim_contig_runs(r, 1));
	ck_assert(isim_contig_runs(r, 4));
	r[3].pfn = 109;
	ck_assert(!isim_contig_runs(r, 4));
	ck_assert(isim_contig_runs(r, 3));
	r[1].pfn = 104;
	ck_assert(!isim_contig_runs(r, 2));
}
END_TEST

/* The shared run scan: a break at each position in and around blocks. */
START_TEST(run_len_breaks_everywhere)
{
	uint64_t p[50];

	for (size_t brk = 1; brk <= 50; brk++) {
		for (size_t i = 0; i < 50; i++)
			p[i] = UINT64_MAX - 20 + i + (i >= brk ? 7 : 0);
		ck_assert_uint_eq(isim_pfn_run_len(p, 50), brk);
		ck_assert_uint_eq(isim_pfn_run_len(p, brk), brk);
		ck_assert_uint_eq(isim_pfn_run_len(p, brk > 3 ? 3 : brk),
				  brk > 3 ? 3 : brk);
	}
	ck_assert_uint_eq(isim_pfn_run_len(p, 0), 0);
}
END_TEST

/* Filling a run writes exactly n PFNs, for odd and even n, across wrap. */
START_TEST(run_fill)
{
	uint64_t p[10];

	for (size_t n = 0; n <= 9; n++) {
		for (size_t i = 0; i < 10; i++)
			p[i] = 7;
		isim_pfn_run_fill(p, UINT64_MAX - 3, n);
		for (size_t i = 0; i < n; i++)
			ck_assert_uint_eq(p[i], UINT64_MAX - 3 + i);
		ck_assert_uint_eq(p[n], 7);
		ck_assert_uint_eq(isim_pfn_run_len(p, n), n);
	}
}
END_TEST

START_TEST(to_runs_truncates)
{
	uint64_t p[] = { 5, 6, 7, 20, 21, 9, 40 };
	struct isim_pfn_run r[2] = { { 0, 0 }, { 0, 0 } };

	/* Sizing call first, then a short buffer: only what fits is written. */
	ck_assert_uint_eq(isim_pfns_to_runs(p, 7, NULL, 0), 4);
	ck_assert_uint_eq(isim_pfns_to_runs(p, 7, r, 2), 4);
	ck_assert_uint_eq(r[0].pfn, 5);
	ck_assert_uint_eq(r[0].npages, 3);
	ck_assert_uint_eq(r[1].pfn, 20);
	ck_assert_uint_eq(r[1].npages, 2);
	ck_assert_uint_eq(isim_pfns_to_runs(p, 0, NULL, 0), 0);
}
END_TEST

enum layout {
	LAYOUT_CONTIGUOUS,
	LAYOUT_ONE_BREAK,
	LAYOUT_RANDOM,
	LAYOUT_BREAK_FIRST,
	LAYOUT_BREAK_LAST,
	LAYOUT_FOLIOS,		/* runs of 512 with a gap between them */
	NR_LAYOUTS,
};

/* Fill @p with @n PFNs of layout @l; returns whether they are contiguous. */
static bool make_layout(unsigned int *seed, enum layout l, uint64_t *p,
			size_t n)
{
	uint64_t base = rnd64(seed);
	bool want = true;

	for (size_t i = 0; i < n; i++)
		p[i] = base + i;
	switch (l) {
	case LAYOUT_CONTIGUOUS:
		break;
	case LAYOUT_ONE_BREAK:
		if (n >= 2) {
			size_t b = 1 + (size_t)rand_r(seed) % (n - 1);
			uint64_t delta = 1 + (uint64_t)rand_r(seed) % 3;

			/* Shift everything from b on: one break, at b. */
			if (rand_r(seed) % 2)
				delta = -delta;
			for (size_t i = b; i < n; i++)
				p[i] += delta;
			want = false;
		}
		break;
	case LAYOUT_RANDOM:
		for (size_t i = 0; i < n; i++)
			p[i] = rnd64(seed) % 1000000;
		want = true;
		for (size_t i = 1; i < n; i++)
			want = want && p[i] == p[i - 1] + 1;
		break;
	case LAYOUT_BREAK_FIRST:
		if (n >= 2) {
			p[0] = base - 1 - (uint64_t)rand_r(seed) % 1000;
			want = false;
		}
		break;
	case LAYOUT_BREAK_LAST:
		if (n >= 2) {
			p[n - 1] += 1 + (uint64_t)rand_r(seed) % 1000;
			want = false;
		}
		break;
	case LAYOUT_FOLIOS:
		for (size_t i = 512; i < n; i++)
			p[i] += 512 * (i / 512);
		want = n <= 512;
		break;
	default:
		break;
	}
	return want;
}

START_TEST(algorithms_agree_on_random_layouts)
{
	static uint64_t p[MAX_N];
	unsigned int seed = 20250801;
	unsigned int counts[2] = { 0, 0 };

	for (int iter = 0; iter < 4000; iter++) {
		enum layout l = (enum layout)(iter % NR_LAYOUTS);
		size_t n;
		bool want;

		/* Short arrays often, and lengths off the block size. */
		switch (rand_r(&seed) % 4) {
		case 0:
			n = (size_t)rand_r(&seed) % 40;
			break;
		case 1:
			n = 16 * (1 + (size_t)rand_r(&seed) % 300) +
			    (size_t)rand_r(&seed) % 2;
			break;
		default:
			n = (size_t)rand_r(&seed) % (MAX_N + 1);
			break;
		}
		want = make_layout(&seed, l, p, n);
		check_all(p, n, want, "random layout");
		counts[want]++;
	}
	/* Both answers were exercised plenty. */
	ck_assert_uint_gt(counts[0], 800);
	ck_assert_uint_gt(counts[1], 800);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("contig");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, names_round_trip);
	tcase_add_test(tc, edge_cases);
	tcase_add_test(tc, runs_chain);
	tcase_add_test(tc, to_runs_truncates);
	tcase_add_test(tc, run_len_breaks_everywhere);
	tcase_add_test(tc, run_fill);
	tcase_add_test(tc, algorithms_agree_on_random_layouts);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
