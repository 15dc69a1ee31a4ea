/*
 * Concurrency: several threads allocate, destroy and look up objects on one
 * context at once.  Every ioctl must give one of its legal answers, and
 * afterwards the table must be consistent.  Run under TSan in CI.
 */
#include "config.h"

#include <pthread.h>

#include "tests/unit/helpers.h"
#include "sim/iommufd/iommufd_private.h"

#define THREADS 4
#define ROUNDS 20000

static void *worker(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg;
	struct iommufd_ctx *ictx = &tfd->ictx;

	for (int i = 0; i < ROUNDS; i++) {
		uint32_t id = 1 + (uint32_t)(rand_r(&seed) % 64);
		struct iommufd_object *obj;
		int rc;

		switch (rand_r(&seed) % 3) {
		case 0:
			rc = ioas_alloc(tfd, &id);
			ck_assert(rc == 0 || rc == -EBUSY);
			break;
		case 1:
			rc = obj_destroy(tfd, id);
			ck_assert(rc == 0 || rc == -ENOENT || rc == -EBUSY);
			break;
		default:
			obj = iommufd_get_object(ictx, id, IOMMUFD_OBJ_IOAS);
			if (!IS_ERR(obj)) {
				ck_assert_uint_eq(obj->id, id);
				ck_assert_int_eq(obj->type, IOMMUFD_OBJ_IOAS);
				iommufd_put_object(ictx, obj);
			}
			break;
		}
	}
	return NULL;
}

START_TEST(alloc_destroy_lookup_race)
{
	pthread_t t[THREADS];
	uint32_t id, n = 0;
	void *e;

	for (uintptr_t i = 0; i < THREADS; i++)
		pthread_create(&t[i], NULL, worker, (void *)(i + 1));
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	assert_invariants(tm);
	/* Every survivor is a published IOAS that DESTROY can remove. */
	isim_idr_for_each(&tfd->ictx.objects, id, e)
		n++;
	for (id = 1; n; id++)
		if (obj_destroy(tfd, id) == 0)
			n--;
	ck_assert_uint_eq(tfd->ictx.objects.count, 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("stress");
	TCase *tc = tcase_create("objtable");

	tcase_set_timeout(tc, 120);
	tcase_add_checked_fixture(tc, machine_setup, machine_teardown);
	tcase_add_test(tc, alloc_destroy_lookup_race);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
