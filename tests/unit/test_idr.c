/* The lowest-free ID table: allocation order, reuse, limits, iteration. */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <stdlib.h>

#include "sim/lib/fault.h"
#include "sim/lib/idr.h"

#define ENTRY ((void *)0x1000)

START_TEST(lowest_free_and_reuse)
{
	struct isim_idr idr;
	uint32_t id;

	isim_idr_init(&idr);
	for (uint32_t want = 1; want <= 200; want++) {
		ck_assert_int_eq(isim_idr_alloc(&idr, ENTRY, 1, 0x7fffffff, &id), 0);
		ck_assert_uint_eq(id, want);
	}
	ck_assert_ptr_eq(isim_idr_erase(&idr, 70), ENTRY);
	ck_assert_ptr_eq(isim_idr_erase(&idr, 3), ENTRY);
	ck_assert_int_eq(isim_idr_alloc(&idr, ENTRY, 1, 0x7fffffff, &id), 0);
	ck_assert_uint_eq(id, 3);
	ck_assert_int_eq(isim_idr_alloc(&idr, ENTRY, 1, 0x7fffffff, &id), 0);
	ck_assert_uint_eq(id, 70);
	ck_assert_int_eq(isim_idr_alloc(&idr, ENTRY, 1, 0x7fffffff, &id), 0);
	ck_assert_uint_eq(id, 201);
	ck_assert_uint_eq(idr.count, 201);
	ck_assert_ptr_null(isim_idr_erase(&idr, 5000));
	isim_idr_destroy(&idr);
}
END_TEST

START_TEST(range_limits)
{
	struct isim_idr idr;
	uint32_t id;

	isim_idr_init(&idr);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(isim_idr_alloc(&idr, ENTRY, 1, 3, &id), 0);
	ck_assert_int_eq(isim_idr_alloc(&idr, ENTRY, 1, 3, &id), -EBUSY);
	/* The top of the iommufd range is reachable and then full. */
	ck_assert_int_eq(isim_idr_alloc(&idr, ENTRY, 0x7fffffff, 0x7fffffff, &id), 0);
	ck_assert_uint_eq(id, 0x7fffffff);
	ck_assert_int_eq(isim_idr_alloc(&idr, ENTRY, 0x7fffffff, 0x7fffffff, &id),
			 -EBUSY);
	ck_assert_ptr_eq(isim_idr_load(&idr, 0x7fffffff), ENTRY);
	ck_assert_ptr_null(isim_idr_load(&idr, 0x7ffffffe));
	isim_idr_destroy(&idr);
}
END_TEST

/* Random alloc/erase against a plain array model. */
START_TEST(matches_model)
{
	enum { N = 1500 };
	static char used[N + 1];
	struct isim_idr idr;
	unsigned seed = 7;

	isim_idr_init(&idr);
	for (int step = 0; step < 30000; step++) {
		uint32_t id, pick = 1 + (uint32_t)(rand_r(&seed) % N);

		if (rand_r(&seed) % 3) {
			uint32_t want = 1;

			while (want <= N && used[want])
				want++;
			if (want > N)
				continue;
			ck_assert_int_eq(isim_idr_alloc(&idr, (void *)(uintptr_t)(want * 16), 1, N, &id), 0);
			ck_assert_uint_eq(id, want);
			used[id] = 1;
		} else {
			void *old = isim_idr_erase(&idr, pick);

			ck_assert_int_eq(old != NULL, used[pick]);
			if (old)
				ck_assert_ptr_eq(old, (void *)(uintptr_t)(pick * 16));
			used[pick] = 0;
		}
	}
	/* Iteration visits exactly the used IDs, in order. */
	{
		uint32_t id, expect = 0, n = 0;
		void *e;

		isim_idr_for_each(&idr, id, e) {
			while (!used[++expect])
				;
			ck_assert_uint_eq(id, expect);
			n++;
		}
		ck_assert_uint_eq(n, idr.count);
	}
	isim_idr_destroy(&idr);
}
END_TEST

START_TEST(alloc_failure_leaves_no_trace)
{
	struct isim_idr idr;
	uint32_t id;

	isim_idr_init(&idr);
	for (unsigned n = 1; n < 20; n++) {
		isim_fail_nth_set(n);
		if (isim_idr_alloc(&idr, ENTRY, 100000, 200000, &id) == 0)
			ck_assert_ptr_eq(isim_idr_erase(&idr, id), ENTRY);
		isim_fail_nth_set(0);
		ck_assert_uint_eq(idr.count, 0);
		ck_assert_ptr_null(idr.root);
	}
	isim_idr_destroy(&idr);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("idr");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, lowest_free_and_reuse);
	tcase_add_test(tc, range_limits);
	tcase_add_test(tc, matches_model);
	tcase_add_test(tc, alloc_failure_leaves_no_trace);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
