/*
 * IOMMU_HW_QUEUE_ALLOC and the objects it stands on, through the real
 * ioctls with the mock driver: the acceptance scenarios of
 * spec/hw_queue.md §9 (rows 1-43), the v8 pin variant, the upstream
 * selftest's hw_queue sequence, and a fail-nth sweep.
 */
#include "config.h"

#include <sys/mman.h>

#include <iommufd_test.h>

#include "tests/unit/helpers.h"
#include "sim/iommufd/iommufd_private.h"
#include "sim/mm/phys.h"

#define X ((uint64_t)MOCK_APERTURE_START)

static uint32_t ioas, dev_id, hwpt, viommu;
static struct isim_device *dev;
static size_t ps;
static char *mem;	/* four pages of guest memory */

static int hw_queue(uint32_t type, uint32_t index, uint64_t iova,
		    uint64_t len, uint32_t *out)
{
	struct iommu_hw_queue_alloc cmd = {
		.size = sizeof(cmd),
		.viommu_id = viommu,
		.type = type,
		.index = index,
		.nesting_parent_iova = iova,
		.length = len,
	};
	int rc = isim_ioctl(tfd, IOMMU_HW_QUEUE_ALLOC, &cmd);

	if (out)
		*out = cmd.out_hw_queue_id;
	return rc;
}

static int q(uint32_t index, uint64_t iova, uint64_t len, uint32_t *out)
{
	return hw_queue(IOMMU_HW_QUEUE_TYPE_SELFTEST, index, iova, len, out);
}

static int users_of(uint32_t id)
{
	struct iommufd_object *obj =
		iommufd_get_object(&tfd->ictx, id, IOMMUFD_OBJ_ANY);
	int users;

	ck_assert(!IS_ERR(obj));
	/* Less the table's reference and this lookup's. */
	users = atomic_load(&obj->users) - 2;
	iommufd_put_object(&tfd->ictx, obj);
	return users;
}

/* The next ID the table will hand out (it is reused at once). */
static uint32_t next_id(void)
{
	uint32_t id;

	ck_assert_int_eq(ioas_alloc(tfd, &id), 0);
	ck_assert_int_eq(obj_destroy(tfd, id), 0);
	return id;
}

static void std_setup_driver(const char *driver, bool v8)
{
	struct isim_machine_config cfg = { .hw_queue_pin_v8 = v8 };
	struct isim_iommu *iommu = NULL;
	uint32_t pt;

	ck_assert_int_eq(isim_machine_new(&cfg, &tm), 0);
	ck_assert_int_eq(isim_open(tm, &tfd), 0);
	ps = isim_machine_page_size(tm);
	if (strcmp(driver, "mock"))
		ck_assert_int_eq(isim_iommu_add(tm, driver, NULL, &iommu), 0);
	ck_assert_int_eq(isim_device_add(tm, iommu, "dev0", &dev), 0);
	ck_assert_int_eq(isim_mem_alloc(tm, 4 * ps, ISIM_BACKING_4K,
					(void **)&mem), 0);
	ck_assert_int_eq(ioas_alloc(tfd, &ioas), 0);
	ck_assert_int_eq(isim_device_bind(tfd, dev, &dev_id), 0);
	pt = ioas;
	ck_assert_int_eq(isim_device_attach(tfd, dev_id, &pt), 0);
	ck_assert_int_eq(hwpt_alloc(tfd, dev_id, ioas,
				    IOMMU_HWPT_ALLOC_NEST_PARENT, &hwpt),
			 0);
	ck_assert_int_eq(viommu_alloc(tfd, dev_id, hwpt,
				      IOMMU_VIOMMU_TYPE_SELFTEST, &viommu),
			 0);
}

static void std_setup(void)
{
	std_setup_driver("mock", false);
}

static void std_teardown(void)
{
	struct isim_phys_stats st;
	char report[2048];

	isim_close(tfd);
	ck_assert_msg(isim_check(tm, report, sizeof(report)) == 0, "%s", report);
	/* Everything the queues pinned was unpinned. */
	isim_phys_stats(tm->phys, &st);
	ck_assert_uint_eq(isim_phys_total_pins(tm->phys), 0);
	isim_mem_free(tm, mem);
	isim_machine_free(tm);
}

static void map_x(uint64_t off, uint32_t flags)
{
	uint64_t iova = X + off;

	ck_assert_int_eq(ioas_map(tfd, ioas, mem + off, ps,
				  flags | IOMMU_IOAS_MAP_FIXED_IOVA, &iova), 0);
}

START_TEST(framing_and_argument_checks)
{
	uint8_t big[48] = { 0 };
	struct iommu_hw_queue_alloc *cmd = (void *)big;

	/* Rows 1-8. */
	cmd->size = 39;
	ck_assert_int_eq(isim_ioctl(tfd, IOMMU_HW_QUEUE_ALLOC, cmd), -EINVAL);
	cmd->size = 48;
	big[44] = 1;
	ck_assert_int_eq(isim_ioctl(tfd, IOMMU_HW_QUEUE_ALLOC, cmd), -E2BIG);
	{
		struct iommu_hw_queue_alloc c = { .size = sizeof(c), .flags = 1,
						  .viommu_id = viommu,
						  .type = IOMMU_HW_QUEUE_TYPE_SELFTEST,
						  .length = ps };

		ck_assert_int_eq(isim_ioctl(tfd, IOMMU_HW_QUEUE_ALLOC, &c),
				 -EOPNOTSUPP);
	}
	ck_assert_int_eq(hw_queue(0, 0, X, ps, NULL), -EOPNOTSUPP);
	ck_assert_int_eq(q(0, X, 0, NULL), -EINVAL);
	ck_assert_int_eq(q(0, ~0ull, ps, NULL), -EOVERFLOW);
	viommu = ioas;
	ck_assert_int_eq(q(0, X, ps, NULL), -ENOENT);
	viommu = hwpt + 1;
	ck_assert_int_eq(hw_queue(0x1234, 0, X, ps, NULL), -EOPNOTSUPP);
	/* Row 11: the rounding overflows before anything is allocated. */
	ck_assert_int_eq(q(0, 0, UINT64_MAX - 1, NULL), -ERANGE);
	/*
	 * An absurd length: the page array (kvcalloc, which refuses more
	 * than INT_MAX bytes) fails before any access is made or pinned.
	 */
	{
		uint32_t before = next_id();

		ck_assert_int_eq(q(0, X, (uint64_t)ps << 29, NULL), -ENOMEM);
		ck_assert_uint_eq(next_id(), before);
	}
}
END_TEST

START_TEST(unmapped_and_unreadable)
{
	uint32_t before = next_id();
	uint64_t iova = X;

	/* Row 9: nothing mapped, no ID consumed. */
	ck_assert_int_eq(q(0, X, ps, NULL), -ENOENT);
	ck_assert_uint_eq(next_id(), before);
	/* Row 10: a write-only mapping cannot be pinned for read. */
	ck_assert_int_eq(ioas_map(tfd, ioas, mem, ps,
				  IOMMU_IOAS_MAP_WRITEABLE |
					  IOMMU_IOAS_MAP_FIXED_IOVA,
				  &iova), 0);
	ck_assert_int_eq(q(0, X, ps, NULL), -EPERM);
	ck_assert_uint_eq(next_id(), before);
}
END_TEST

START_TEST(index_rules_and_locking)
{
	uint32_t hq0, hq1, access_id, v_users, a_users;
	uint64_t len;

	map_x(0, RW);
	/* Rows 12, 13: the driver refuses after the pin, which is undone. */
	ck_assert_int_eq(q(1, X, ps, NULL), -EIO);
	ck_assert_int_eq(q(2, X, ps, NULL), -EINVAL);
	v_users = users_of(viommu);
	a_users = users_of(ioas);
	/* Row 14: the queue gets N, its internal access N + 1. */
	access_id = next_id() + 1;
	ck_assert_int_eq(q(0, X, ps, &hq0), 0);
	ck_assert_uint_eq(access_id, hq0 + 1);
	ck_assert_int_eq(users_of(viommu), v_users + 1);
	ck_assert_int_eq(users_of(ioas), a_users + 1);
	/* Rows 15-21. */
	ck_assert_int_eq(q(0, X, ps, NULL), -EEXIST);
	ck_assert_int_eq(ioas_unmap(tfd, ioas, X, ps, NULL), -EBUSY);
	ck_assert_int_eq(ioas_unmap(tfd, ioas, X + ps / 2, ps / 2, NULL),
			 -EBUSY);
	map_x(ps, RW);
	ck_assert_int_eq(ioas_unmap(tfd, ioas, X + ps, ps, &len), 0);
	ck_assert_uint_eq(len, ps);
	ck_assert_int_eq(obj_destroy(tfd, access_id), -EBUSY);
	ck_assert_int_eq(obj_destroy(tfd, viommu), -EBUSY);
	ck_assert_int_eq(obj_destroy(tfd, hwpt), -EBUSY);
	ck_assert_int_eq(obj_destroy(tfd, ioas), -EBUSY);
	/* Row 22: the in-page offset reaches the driver (its PA check). */
	ck_assert_int_eq(q(1, X + ps / 2, ps / 2, &hq1), 0);
	/* Row 30. */
	ck_assert_int_eq(q(2, X, ps, NULL), -EINVAL);
	/* Rows 23, 24. */
	ck_assert_int_eq(obj_destroy(tfd, hq0), -EBUSY);
	ck_assert_int_eq(obj_destroy(tfd, hq1), 0);
	ck_assert_int_eq(obj_destroy(tfd, hq0), 0);
	ck_assert_int_eq(ioas_unmap(tfd, ioas, X, ps, &len), 0);
	ck_assert_uint_eq(isim_phys_total_pins(tm->phys), 0);
	assert_invariants(tm);
}
END_TEST

START_TEST(pa_check_catches_a_wrong_offset)
{
	uint32_t before;

	map_x(0, RW);
	before = next_id();
	/* Row 25: not 2 KiB aligned: the mock's PA comparison fails. */
	ck_assert_int_eq(q(0, X + 1024, 16, NULL), -EFAULT);
	ck_assert_uint_eq(next_id(), before);
	/* Only the domains' pin of the mapped page remains. */
	ck_assert_uint_eq(isim_phys_total_pins(tm->phys), 1);
	ck_assert_int_eq(users_of(viommu), 0);
	/* That is a kernel WARN in the mock; forget it for the teardown. */
	atomic_store(&tm->warnings, 0);
}
END_TEST

START_TEST(contiguity)
{
	uint64_t iova;
	char *a, *b;

	/* Row 26: two pages from separate 4K allocations are not adjacent
	 * frames once a third allocation sits between them. */
	ck_assert_int_eq(isim_mem_alloc(tm, ps, ISIM_BACKING_4K, (void **)&a), 0);
	ck_assert_int_eq(isim_mem_alloc(tm, ps, ISIM_BACKING_4K, (void **)&b), 0);
	iova = X;
	ck_assert_int_eq(ioas_map(tfd, ioas, b, ps, RW | IOMMU_IOAS_MAP_FIXED_IOVA,
				  &iova), 0);
	iova = X + ps;
	ck_assert_int_eq(ioas_map(tfd, ioas, a, ps, RW | IOMMU_IOAS_MAP_FIXED_IOVA,
				  &iova), 0);
	ck_assert_int_eq(q(0, X, 2 * ps, NULL), -EFAULT);
	ck_assert_uint_eq(isim_phys_total_pins(tm->phys), 2);
	ck_assert_int_eq(ioas_unmap(tfd, ioas, 0, UINT64_MAX, NULL), 0);
	/* Row 27: consecutive frames (one 2-page allocation, two areas). */
	map_x(0, RW);
	map_x(ps, RW);
	ck_assert_int_eq(q(0, X, 2 * ps, NULL), 0);
	ck_assert_int_eq(ioas_unmap(tfd, ioas, X, ps, NULL), -EBUSY);
	ck_assert_int_eq(ioas_unmap(tfd, ioas, X + ps, ps, NULL), -EBUSY);
	isim_mem_free(tm, a);
	isim_mem_free(tm, b);
}
END_TEST

START_TEST(reply_fault_unwinds_everything)
{
	struct iommu_hw_queue_alloc *cmd;
	uint32_t before;
	void *ro;

	map_x(0, RW);
	before = next_id();
	/* Row 28: a read-only argument makes the reply copy fail. */
	ro = aligned_alloc(ps, ps);
	cmd = ro;
	*cmd = (struct iommu_hw_queue_alloc){
		.size = sizeof(*cmd), .viommu_id = viommu,
		.type = IOMMU_HW_QUEUE_TYPE_SELFTEST,
		.nesting_parent_iova = X, .length = ps,
	};
	ck_assert_int_eq(mprotect(ro, ps, PROT_READ), 0);
	ck_assert_int_eq(isim_ioctl(tfd, IOMMU_HW_QUEUE_ALLOC, cmd), -EFAULT);
	mprotect(ro, ps, PROT_READ | PROT_WRITE);
	free(ro);
	ck_assert_uint_eq(next_id(), before);
	ck_assert_uint_eq(isim_phys_total_pins(tm->phys), 1);
	ck_assert_int_eq(users_of(viommu), 0);
	/* The driver's undo ran: index 0 is free again. */
	ck_assert_int_eq(q(0, X, ps, NULL), 0);
}
END_TEST

START_TEST(close_with_queues)
{
	/* Row 29: teardown frees queue 1, then 0, then the rest; no pins. */
	map_x(0, RW);
	ck_assert_int_eq(q(0, X, ps, NULL), 0);
	ck_assert_int_eq(q(1, X + ps / 2, ps / 2, NULL), 0);
}
END_TEST

START_TEST(viommu_alloc_rules)
{
	uint32_t plain, out;

	/* Rows 36-38. */
	ck_assert_int_eq(viommu_alloc(tfd, dev_id, 0,
				      IOMMU_VIOMMU_TYPE_SELFTEST, &out),
			 -ENOENT);
	ck_assert_int_eq(hwpt_alloc(tfd, dev_id, ioas, 0, &plain), 0);
	ck_assert_int_eq(viommu_alloc(tfd, dev_id, plain,
				      IOMMU_VIOMMU_TYPE_SELFTEST, &out),
			 -EINVAL);
	ck_assert_int_eq(obj_destroy(tfd, plain), 0);
	ck_assert_int_eq(viommu_alloc(tfd, dev_id, hwpt, 0xdead, &out),
			 -EOPNOTSUPP);
	ck_assert_int_eq(viommu_alloc(tfd, dev_id, hwpt, 0, &out), -EOPNOTSUPP);
	ck_assert_int_eq(obj_destroy(tfd, hwpt), -EBUSY);
}
END_TEST

START_TEST(vdevice_rules)
{
	struct isim_device *d2;
	uint32_t d2_id, v, v2, vdev, vusers;

	ck_assert_int_eq(isim_device_add(tm, NULL, "dev1", &d2), 0);
	ck_assert_int_eq(isim_device_bind(tfd, d2, &d2_id), 0);
	vusers = users_of(viommu);
	/* Row 40. */
	ck_assert_int_eq(vdev_alloc(tfd, viommu, dev_id, 0x99, &vdev), 0);
	ck_assert_int_eq(vdev_alloc(tfd, viommu, dev_id, 0x99, &v), -EEXIST);
	/* Row 41: virt_id taken on this vIOMMU. */
	ck_assert_int_eq(vdev_alloc(tfd, viommu, d2_id, 0x99, &v), -EEXIST);
	ck_assert_int_eq(users_of(viommu), vusers + 1);
	/* Row 42: uniqueness is per vIOMMU. */
	ck_assert_int_eq(viommu_alloc(tfd, dev_id, hwpt,
				      IOMMU_VIOMMU_TYPE_SELFTEST, &v2),
			 0);
	ck_assert_int_eq(vdev_alloc(tfd, v2, d2_id, 0x99, &v), 0);
	ck_assert_int_eq(vdev_alloc(tfd, 77, d2_id, 1, &v), -ENOENT);
	/* Row 43: unbind tombstones the vDEVICE. */
	ck_assert_int_eq(isim_device_unbind(tfd, d2_id), 0);
	ck_assert_int_eq(obj_destroy(tfd, v), -ENOENT);
	ck_assert_uint_ne(next_id(), v);
	assert_invariants(tm);
}
END_TEST

START_TEST(v8_variant_reproduces_the_bug)
{
	/* Aligned queues work; any unaligned IOVA gives ERANGE. */
	map_x(0, RW);
	ck_assert_int_eq(q(0, X, ps, NULL), 0);
	ck_assert_int_eq(q(1, X + ps / 2, ps / 2, NULL), -ERANGE);
}
END_TEST

static void v8_setup(void)
{
	std_setup_driver("mock", true);
}

static void iova_setup(void)
{
	std_setup_driver("mock-iova", false);
}

START_TEST(iova_variant_pins_nothing)
{
	uint32_t before = next_id(), hq;
	uint64_t len;

	/* Row 31: nothing mapped, one ID, no pin. */
	ck_assert_int_eq(q(0, X, 8, &hq), 0);
	ck_assert_uint_eq(hq, before);
	ck_assert_uint_eq(next_id(), before + 1);
	ck_assert_uint_eq(isim_phys_total_pins(tm->phys), 0);
	/* Row 32: its memory can be unmapped while it lives. */
	map_x(0, RW);
	ck_assert_int_eq(ioas_unmap(tfd, ioas, X, ps, &len), 0);
	/* Rows 33, 34. */
	ck_assert_int_eq(q(1, X, 0, NULL), -EINVAL);
	ck_assert_int_eq(hw_queue(5, 1, X, 8, NULL), -EOPNOTSUPP);
}
END_TEST

/* Setup and body of the fail_nth "device" sweep for the HW queue part. */
START_TEST(fail_nth_sweep)
{
	unsigned n;

	map_x(0, RW);
	for (n = 1; n < 400; n++) {
		uint32_t v = 0, hq0 = 0, hq1 = 0, vdev = 0;
		int rc;

		isim_fail_nth_set(n);
		rc = viommu_alloc(tfd, dev_id, hwpt, IOMMU_VIOMMU_TYPE_SELFTEST,
				  &v);
		if (!rc) {
			uint32_t saved = viommu;

			viommu = v;
			rc = vdev_alloc(tfd, v, dev_id, 0, &vdev);
			if (!rc)
				rc = q(0, X, ps, &hq0);
			if (!rc)
				rc = q(1, X + ps / 2, ps / 2, &hq1);
			viommu = saved;
		}
		if (isim_fail_nth_get() == 0 && !rc)
			ck_abort_msg("n=%u: injected failure not reported", n);
		isim_fail_nth_set(0);
		if (hq1)
			ck_assert_int_eq(obj_destroy(tfd, hq1), 0);
		if (hq0)
			ck_assert_int_eq(obj_destroy(tfd, hq0), 0);
		if (vdev)
			ck_assert_int_eq(obj_destroy(tfd, vdev), 0);
		if (v)
			ck_assert_int_eq(obj_destroy(tfd, v), 0);
		ck_assert_uint_eq(isim_phys_total_pins(tm->phys), 1);
		assert_invariants(tm);
		if (!rc)
			break;
	}
	ck_assert_uint_gt(n, 5);
	ck_assert_uint_lt(n, 400);
}
END_TEST

/*
 * The sequence of the kernel's basic_fail_nth.device sweep for this
 * feature: bind, attach, nest-parent HWPT, vIOMMU, vDEVICE, vEVENTQ, HW
 * queues 0 (aligned) and 1 (unaligned).  After every injected failure the
 * context is closed: no object, ID or pin may survive, and the invariants
 * hold.
 */
START_TEST(fail_nth_full_sequence)
{
	struct isim_device *sd;
	unsigned n;

	ck_assert_int_eq(isim_device_add(tm, NULL, "sweep", &sd), 0);
	for (n = 1; n < 1000; n++) {
		struct iommu_veventq_alloc veq = {
			.size = sizeof(veq), .type = IOMMU_VEVENTQ_TYPE_SELFTEST,
			.veventq_depth = 2,
		};
		uint32_t d, ioas_id, pt, parent = 0, v = 0, vdev = 0, hq = 0;
		struct isim_fd *fd;
		uint64_t iova = X;
		char report[2048];
		int rc;

		ck_assert_int_eq(isim_open(tm, &fd), 0);
		ck_assert_int_eq(ioas_alloc(fd, &ioas_id), 0);
		pt = ioas_id;
		ck_assert_int_eq(ioas_map(fd, ioas_id, mem, 2 * ps,
					  RW | IOMMU_IOAS_MAP_FIXED_IOVA, &iova), 0);
		isim_fail_nth_set(n);
		rc = isim_device_bind(fd, sd, &d);
		if (!rc)
			rc = isim_device_attach(fd, d, &pt);
		if (!rc) {
			struct iommu_hwpt_alloc c = {
				.size = sizeof(c), .dev_id = d, .pt_id = ioas_id,
				.flags = IOMMU_HWPT_ALLOC_NEST_PARENT };

			rc = isim_ioctl(fd, IOMMU_HWPT_ALLOC, &c);
			parent = c.out_hwpt_id;
		}
		if (!rc) {
			struct iommu_viommu_alloc c = {
				.size = sizeof(c), .dev_id = d, .hwpt_id = parent,
				.type = IOMMU_VIOMMU_TYPE_SELFTEST };

			rc = isim_ioctl(fd, IOMMU_VIOMMU_ALLOC, &c);
			v = c.out_viommu_id;
		}
		if (!rc) {
			struct iommu_vdevice_alloc c = {
				.size = sizeof(c), .viommu_id = v, .dev_id = d };

			rc = isim_ioctl(fd, IOMMU_VDEVICE_ALLOC, &c);
			vdev = c.out_vdevice_id;
		}
		if (!rc) {
			veq.viommu_id = v;
			rc = isim_ioctl(fd, IOMMU_VEVENTQ_ALLOC, &veq);
			if (!rc)
				isim_fd_close(fd, (int)veq.out_veventq_fd);
		}
		for (uint32_t i = 0; !rc && i < 2; i++) {
			struct iommu_hw_queue_alloc c = {
				.size = sizeof(c), .viommu_id = v,
				.type = IOMMU_HW_QUEUE_TYPE_SELFTEST, .index = i,
				.nesting_parent_iova = X + i * ps / 2,
				.length = i ? ps / 2 : ps };

			rc = isim_ioctl(fd, IOMMU_HW_QUEUE_ALLOC, &c);
			hq = c.out_hw_queue_id;
		}
		isim_fail_nth_set(0);
		(void)vdev;
		(void)hq;
		isim_close(fd);
		ck_assert_uint_eq(isim_phys_total_pins(tm->phys), 0);
		ck_assert_msg(isim_check(tm, report, sizeof(report)) == 0,
			      "n=%u: %s", n, report);
		if (!rc)
			break;
	}
	ck_assert_uint_gt(n, 10);
	ck_assert_uint_lt(n, 1000);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("hw_queue");
	TCase *tc = tcase_create("mock");
	TCase *v8 = tcase_create("v8");
	TCase *iova = tcase_create("iova");

	tcase_add_checked_fixture(tc, std_setup, std_teardown);
	tcase_add_test(tc, framing_and_argument_checks);
	tcase_add_test(tc, unmapped_and_unreadable);
	tcase_add_test(tc, index_rules_and_locking);
	tcase_add_test(tc, pa_check_catches_a_wrong_offset);
	tcase_add_test(tc, contiguity);
	tcase_add_test(tc, reply_fault_unwinds_everything);
	tcase_add_test(tc, close_with_queues);
	tcase_add_test(tc, viommu_alloc_rules);
	tcase_add_test(tc, vdevice_rules);
	tcase_add_test(tc, fail_nth_sweep);
	tcase_add_test(tc, fail_nth_full_sequence);
	suite_add_tcase(s, tc);
	tcase_add_checked_fixture(v8, v8_setup, std_teardown);
	tcase_add_test(v8, v8_variant_reproduces_the_bug);
	suite_add_tcase(s, v8);
	tcase_add_checked_fixture(iova, iova_setup, std_teardown);
	tcase_add_test(iova, iova_variant_pins_nothing);
	suite_add_tcase(s, iova);
	return run_suite(s);
}
