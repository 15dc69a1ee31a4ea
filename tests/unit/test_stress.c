/*
 * Concurrency: several threads allocate, destroy and look up objects on one
 * context at once.  Every ioctl must give one of its legal answers, and
 * afterwards the table must be consistent.  Run under TSan in CI.
 */
#include "config.h"

#include <pthread.h>

#include <iommufd_test.h>

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

/* HW-queue DESTROY racing IOAS_UNMAP of the queue memory and lookups. */
static struct {
	uint32_t ioas, viommu;
	char *mem;
	size_t ps;
	atomic_bool stop;
} race;

#define X ((uint64_t)MOCK_APERTURE_START)

static void *queue_thread(void *arg)
{
	for (int i = 0; i < 2000; i++) {
		struct iommu_hw_queue_alloc cmd = {
			.size = sizeof(cmd), .viommu_id = race.viommu,
			.type = IOMMU_HW_QUEUE_TYPE_SELFTEST,
			.nesting_parent_iova = X, .length = race.ps,
		};
		int rc = isim_ioctl(tfd, IOMMU_HW_QUEUE_ALLOC, &cmd);

		ck_assert(rc == 0 || rc == -ENOENT);
		if (rc)
			continue;
		/* A concurrent lookup makes DESTROY EBUSY: try again. */
		while ((rc = obj_destroy(tfd, cmd.out_hw_queue_id)) == -EBUSY)
			;
		ck_assert_int_eq(rc, 0);
	}
	atomic_store(&race.stop, true);
	return NULL;
}

static void *unmap_thread(void *arg)
{
	while (!atomic_load(&race.stop)) {
		uint64_t len;
		int rc = ioas_unmap(tfd, race.ioas, X, race.ps, &len);

		ck_assert(rc == 0 || rc == -EBUSY);
		if (!rc)
			ck_assert_int_eq(ioas_map_fixed(tfd, race.ioas, race.mem,
							race.ps, X), 0);
	}
	return NULL;
}

static void *lookup_thread(void *arg)
{
	unsigned seed = 3;

	while (!atomic_load(&race.stop)) {
		uint32_t id = 1 + (uint32_t)(rand_r(&seed) % 12);
		struct iommufd_object *obj =
			iommufd_get_object(&tfd->ictx, id, IOMMUFD_OBJ_ANY);

		if (!IS_ERR(obj))
			iommufd_put_object(&tfd->ictx, obj);
	}
	return NULL;
}

START_TEST(hw_queue_destroy_vs_unmap)
{
	struct iommu_hwpt_alloc hwpt = { .size = sizeof(hwpt),
					 .flags = IOMMU_HWPT_ALLOC_NEST_PARENT };
	struct iommu_viommu_alloc viommu = { .size = sizeof(viommu),
					     .type = IOMMU_VIOMMU_TYPE_SELFTEST };
	struct isim_device *dev;
	uint32_t dev_id, pt;
	pthread_t t[3];

	race.ps = isim_machine_page_size(tm);
	atomic_store(&race.stop, false);
	ck_assert_int_eq(isim_mem_alloc(tm, race.ps, ISIM_BACKING_4K,
					(void **)&race.mem), 0);
	ck_assert_int_eq(ioas_alloc(tfd, &race.ioas), 0);
	ck_assert_int_eq(isim_device_add(tm, NULL, "racer", &dev), 0);
	ck_assert_int_eq(isim_device_bind(tfd, dev, &dev_id), 0);
	pt = race.ioas;
	ck_assert_int_eq(isim_device_attach(tfd, dev_id, &pt), 0);
	hwpt.dev_id = dev_id;
	hwpt.pt_id = race.ioas;
	ck_assert_int_eq(isim_ioctl(tfd, IOMMU_HWPT_ALLOC, &hwpt), 0);
	viommu.dev_id = dev_id;
	viommu.hwpt_id = hwpt.out_hwpt_id;
	ck_assert_int_eq(isim_ioctl(tfd, IOMMU_VIOMMU_ALLOC, &viommu), 0);
	race.viommu = viommu.out_viommu_id;
	ck_assert_int_eq(ioas_map_fixed(tfd, race.ioas, race.mem, race.ps, X), 0);

	pthread_create(&t[0], NULL, queue_thread, NULL);
	pthread_create(&t[1], NULL, unmap_thread, NULL);
	pthread_create(&t[2], NULL, lookup_thread, NULL);
	for (int i = 0; i < 3; i++)
		pthread_join(t[i], NULL);
	assert_invariants(tm);
	isim_close(tfd);
	ck_assert_int_eq(isim_open(tm, &tfd), 0);
	isim_mem_free(tm, race.mem);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("stress");
	TCase *tc = tcase_create("objtable");

	tcase_set_timeout(tc, 120);
	tcase_add_checked_fixture(tc, machine_setup, machine_teardown);
	tcase_add_test(tc, alloc_destroy_lookup_race);
	tcase_add_test(tc, hw_queue_destroy_vs_unmap);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
