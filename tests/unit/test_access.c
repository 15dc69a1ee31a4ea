/*
 * Pinning and the access API (spec/core.md §5, §8.18, §9 "Pin
 * bookkeeping"): exact-match unpin, shared pin nodes, the unmap notifier
 * with its retry limit, internal accesses locking areas, accounting
 * against the memlock limit, domains pinning on MAP, and fail-nth sweeps
 * over map, unmap, copy and pin.
 */
#include "config.h"

#include <sys/mman.h>
#include <unistd.h>

#include <iommufd_test.h>

#include "tests/unit/helpers.h"
#include "sim/iommufd/iommufd_private.h"
#include "sim/mm/phys.h"

#define X ((uint64_t)MOCK_APERTURE_START)

static uint32_t ioas;
static size_t ps;
static char *buf;	/* 16 pages of real memory */

struct driver {
	struct iommufd_access *access;
	unsigned calls;
	bool unpin_on_unmap;
	uint64_t pinned_iova, pinned_len;
	uint64_t last_iova, last_len;
};

static void driver_unmap(void *data, uint64_t iova, uint64_t length)
{
	struct driver *d = data;

	d->calls++;
	d->last_iova = iova;
	d->last_len = length;
	if (d->unpin_on_unmap && d->pinned_len) {
		iommufd_access_unpin_pages(d->access, d->pinned_iova,
					   d->pinned_len);
		d->pinned_len = 0;
	}
}

static const struct iommufd_access_ops driver_ops = {
	.needs_pin_pages = true,
	.unmap = driver_unmap,
};

static void setup_machine(const struct isim_machine_config *cfg)
{
	ck_assert_int_eq(isim_machine_new(cfg, &tm), 0);
	ck_assert_int_eq(isim_open(tm, &tfd), 0);
	ps = isim_machine_page_size(tm);
	ck_assert_int_eq(isim_mem_alloc(tm, 16 * ps, ISIM_BACKING_4K,
					(void **)&buf), 0);
	ck_assert_int_eq(ioas_alloc(tfd, &ioas), 0);
}

static void setup(void)
{
	setup_machine(NULL);
}

static void teardown(void)
{
	char report[2048];

	isim_close(tfd);
	ck_assert_msg(isim_check(tm, report, sizeof(report)) == 0, "%s", report);
	ck_assert_uint_eq(isim_phys_total_pins(tm->phys), 0);
	ck_assert_uint_eq(tm->acct.pinned_vm, 0);
	isim_mem_free(tm, buf);
	isim_machine_free(tm);
}

static struct iopt_pages *pages_at(uint64_t iova)
{
	struct iommufd_ioas *p = iommufd_get_ioas(&tfd->ictx, ioas);
	struct iopt_area *area = iopt_area_iter_first(&p->iopt, iova, iova);

	iommufd_put_object(&tfd->ictx, &p->obj);
	return area ? area->pages : NULL;
}

static struct iopt_area *area_at(uint64_t iova)
{
	struct iommufd_ioas *p = iommufd_get_ioas(&tfd->ictx, ioas);
	struct iopt_area *area = iopt_area_iter_first(&p->iopt, iova, iova);

	iommufd_put_object(&tfd->ictx, &p->obj);
	return area;
}

static struct iommufd_access *new_access(struct driver *d)
{
	uint32_t id;

	d->access = iommufd_access_create(&tfd->ictx, &driver_ops, d, &id);
	ck_assert(!IS_ERR(d->access));
	ck_assert_int_eq(iommufd_access_attach(d->access, ioas), 0);
	return d->access;
}

START_TEST(pin_bookkeeping_worked_example)
{
	struct driver d1 = { 0 }, d2 = { 0 };
	uint64_t pfn[2], pfn2[2];
	struct iopt_pages *pages;
	struct iopt_area *area;

	ck_assert_int_eq(ioas_map_fixed(tfd, ioas, buf, 3 * ps, 0x10000), 0);
	new_access(&d1);
	new_access(&d2);
	pages = pages_at(0x10000);
	area = area_at(0x10000);
	ck_assert_int_eq(iommufd_access_pin_pages(d1.access, 0x10000, ps, pfn, 0), 0);
	ck_assert_uint_eq(pages->npinned, 1);
	ck_assert_uint_eq(area->num_accesses, 1);
	ck_assert_int_eq(iommufd_access_pin_pages(d2.access, 0x10000, ps, pfn2, 0), 0);
	ck_assert_uint_eq(pfn2[0], pfn[0]);
	ck_assert_uint_eq(area->num_accesses, 2);
	ck_assert_uint_eq(pages->npinned, 1);
	ck_assert_int_eq(iommufd_access_pin_pages(d1.access, 0x10000, 2 * ps,
						  pfn2, 0), 0);
	ck_assert_uint_eq(area->num_accesses, 3);
	ck_assert_uint_eq(pages->npinned, 2);
	ck_assert_uint_eq(pfn2[0], pfn[0]);
	iommufd_access_unpin_pages(d1.access, 0x10000, ps);
	iommufd_access_unpin_pages(d2.access, 0x10000, ps);
	ck_assert_uint_eq(pages->npinned, 2);
	/* A third unpin matches no pin: a WARN and nothing changes. */
	iommufd_access_unpin_pages(d1.access, 0x10000, ps);
	ck_assert_uint_eq(pages->npinned, 2);
	ck_assert_uint_eq(atomic_load(&tm->warnings), 1);
	atomic_store(&tm->warnings, 0);
	iommufd_access_unpin_pages(d1.access, 0x10000, 2 * ps);
	ck_assert_uint_eq(pages->npinned, 0);
	ck_assert_uint_eq(area->num_accesses, 0);
	iommufd_access_destroy(d1.access);
	iommufd_access_destroy(d2.access);
}
END_TEST

START_TEST(pin_errors)
{
	struct driver d = { 0 };
	uint64_t pfn[4], iova;

	new_access(&d);
	ck_assert_int_eq(iommufd_access_pin_pages(d.access, 0x10000, 0, pfn, 0),
			 -EINVAL);
	ck_assert_int_eq(iommufd_access_pin_pages(d.access, UINT64_MAX, 2, pfn, 0),
			 -EOVERFLOW);
	ck_assert_int_eq(iommufd_access_pin_pages(d.access, 0x10000, ps, pfn, 0),
			 -ENOENT);
	iova = 0x10000;
	ck_assert_int_eq(ioas_map(tfd, ioas, buf, ps,
				  IOMMU_IOAS_MAP_WRITEABLE | IOMMU_IOAS_MAP_FIXED_IOVA,
				  &iova), 0);
	ck_assert_int_eq(iommufd_access_pin_pages(d.access, 0x10000, ps, pfn, 0),
			 -EPERM);
	iova = 0x11000;
	ck_assert_int_eq(ioas_map(tfd, ioas, buf, ps,
				  IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_FIXED_IOVA,
				  &iova), 0);
	ck_assert_int_eq(iommufd_access_pin_pages(d.access, 0x11000, ps, pfn,
						  IOMMUFD_ACCESS_RW_WRITE), -EPERM);
	/* A hole after the first area: nothing stays pinned. */
	ck_assert_int_eq(iommufd_access_pin_pages(d.access, 0x11000, 2 * ps, pfn,
						  0), -ENOENT);
	ck_assert_uint_eq(pages_at(0x11000)->npinned, 0);
	/* Unaligned start in the backing memory. */
	ck_assert_int_eq(iommufd_access_pin_pages(d.access, 0x11010, 16, pfn, 0),
			 -EINVAL);
	/* Unmapped VA surfaces at pin time only. */
	iova = 0x20000;
	ck_assert_int_eq(ioas_map(tfd, ioas, (void *)(uintptr_t)0x1000, ps, RW |
				  IOMMU_IOAS_MAP_FIXED_IOVA, &iova), 0);
	ck_assert_int_eq(iommufd_access_pin_pages(d.access, 0x20000, ps, pfn, 0),
			 -EFAULT);
	iommufd_access_destroy(d.access);
}
END_TEST

START_TEST(attach_alignment)
{
	struct driver d = { 0 };
	uint32_t id;

	/* A sub-page area forbids a pinning access (EADDRINUSE). */
	ck_assert_int_eq(ioas_map_fixed(tfd, ioas, buf + 0x800, 0x800, 0x3800), 0);
	d.access = iommufd_access_create(&tfd->ictx, &driver_ops, &d, &id);
	ck_assert_int_eq(iommufd_access_attach(d.access, ioas), -EADDRINUSE);
	ck_assert_int_eq(iommufd_access_replace(d.access, ioas), -ENOENT);
	ck_assert_int_eq(iommufd_access_attach(d.access, 999), -ENOENT);
	/* DESTROY from userspace: the driver holds it. */
	ck_assert_int_eq(obj_destroy(tfd, id), -EBUSY);
	iommufd_access_destroy(d.access);
}
END_TEST

START_TEST(unmap_notifier)
{
	struct driver d = { .unpin_on_unmap = true };
	uint64_t pfn, len;

	ck_assert_int_eq(ioas_map_fixed(tfd, ioas, buf, 2 * ps, 0x10000), 0);
	new_access(&d);
	ck_assert_int_eq(iommufd_access_pin_pages(d.access, 0x10000 + ps, ps,
						  &pfn, 0), 0);
	d.pinned_iova = 0x10000 + ps;
	d.pinned_len = ps;
	ck_assert_int_eq(ioas_unmap(tfd, ioas, 0x10000, 2 * ps, &len), 0);
	ck_assert_uint_eq(len, 2 * ps);
	/* Called once with the whole area's range. */
	ck_assert_uint_eq(d.calls, 1);
	ck_assert_uint_eq(d.last_iova, 0x10000);
	ck_assert_uint_eq(d.last_len, 2 * ps);
	iommufd_access_destroy(d.access);
}
END_TEST

START_TEST(unmap_edeadlock)
{
	struct driver d = { .unpin_on_unmap = false };
	uint64_t pfn;

	ck_assert_int_eq(ioas_map_fixed(tfd, ioas, buf, ps, 0x10000), 0);
	new_access(&d);
	ck_assert_int_eq(iommufd_access_pin_pages(d.access, 0x10000, ps, &pfn, 0),
			 0);
	ck_assert_int_eq(ioas_unmap(tfd, ioas, 0x10000, ps, NULL), -EDEADLOCK);
	ck_assert_uint_eq(d.calls, 101);
	/* prevent_access stays: new pins fail with EINVAL. */
	ck_assert_int_eq(iommufd_access_pin_pages(d.access, 0x10000, ps, &pfn, 0),
			 -EINVAL);
	ck_assert_uint_eq(atomic_load(&tm->warnings), 1);
	atomic_store(&tm->warnings, 0);
	iommufd_access_unpin_pages(d.access, 0x10000, ps);
	ck_assert_int_eq(ioas_unmap(tfd, ioas, 0x10000, ps, NULL), 0);
	iommufd_access_destroy(d.access);
}
END_TEST

START_TEST(internal_access_locks)
{
	struct iommufd_access *a;
	struct iommufd_ioas *p;
	uint64_t pfn, len;

	ck_assert_int_eq(ioas_map_fixed(tfd, ioas, buf, ps, 0x10000), 0);
	ck_assert_int_eq(ioas_map_fixed(tfd, ioas, buf + ps, ps, 0x11000), 0);
	ck_assert_int_eq(ioas_map_fixed(tfd, ioas, buf + 2 * ps, ps, 0x12000), 0);
	a = iommufd_access_create_internal(&tfd->ictx);
	p = iommufd_get_ioas(&tfd->ictx, ioas);
	ck_assert_int_eq(iommufd_access_attach_internal(a, p), 0);
	iommufd_put_object(&tfd->ictx, &p->obj);
	ck_assert_int_eq(iommufd_access_pin_pages(a, 0x11000, ps, &pfn, 0), 0);
	ck_assert_uint_eq(area_at(0x11000)->num_locks, 1);
	/* The area before the locked one goes; then EBUSY, no write-back. */
	ck_assert_int_eq(ioas_unmap(tfd, ioas, 0x10000, 3 * ps, &len), -EBUSY);
	ck_assert_uint_eq(len, 3 * ps);
	ck_assert_ptr_null(area_at(0x10000));
	ck_assert_int_eq(ioas_unmap(tfd, ioas, 0, UINT64_MAX, NULL), -EBUSY);
	iommufd_access_unpin_pages(a, 0x11000, ps);
	ck_assert_int_eq(ioas_unmap(tfd, ioas, 0, UINT64_MAX, &len), 0);
	ck_assert_uint_eq(len, 2 * ps);
	iommufd_access_detach_internal(a);
	iommufd_access_destroy_internal(&tfd->ictx, a);
}
END_TEST

START_TEST(access_rw_copies_bytes)
{
	struct driver d = { 0 };
	char out[64];

	for (size_t i = 0; i < 4 * ps; i++)
		buf[i] = (char)(i * 7);
	ck_assert_int_eq(ioas_map_fixed(tfd, ioas, buf, 2 * ps, 0x10000), 0);
	ck_assert_int_eq(ioas_map_fixed(tfd, ioas, buf + 2 * ps, 2 * ps,
					0x10000 + 2 * ps), 0);
	new_access(&d);
	/* Across the boundary of two areas. */
	ck_assert_int_eq(iommufd_access_rw(d.access, 0x10000 + 2 * ps - 30, out,
					   60, 0), 0);
	ck_assert_mem_eq(out, buf + 2 * ps - 30, 60);
	memset(out, 0x5a, sizeof(out));
	ck_assert_int_eq(iommufd_access_rw(d.access, 0x10000 + 5, out, 10,
					   IOMMUFD_ACCESS_RW_WRITE), 0);
	ck_assert_mem_eq(buf + 5, out, 10);
	ck_assert_int_eq(iommufd_access_rw(d.access, 0x10000 + 4 * ps - 4, out,
					   8, 0), -ENOENT);
	ck_assert_int_eq(iommufd_access_rw(d.access, 0x10000, out, 0, 0),
			 -EINVAL);
	iommufd_access_destroy(d.access);
}
END_TEST

START_TEST(domain_pins_on_map)
{
	struct isim_device *dev;
	uint32_t dev_id, pt = ioas, pt2 = ioas;
	uint64_t len;

	ck_assert_int_eq(isim_device_add(tm, NULL, "d0", &dev), 0);
	ck_assert_int_eq(isim_device_bind(tfd, dev, &dev_id), 0);
	ck_assert_int_eq(isim_device_attach(tfd, dev_id, &pt), 0);
	/* The domain's aperture is reserved in the IOAS. */
	ck_assert_int_eq(ioas_map_fixed(tfd, ioas, buf, ps, 0x10000), -EINVAL);
	ck_assert_int_eq(ioas_map_fixed(tfd, ioas, buf, 4 * ps, X), 0);
	ck_assert_uint_eq(isim_phys_total_pins(tm->phys), 4);
	/* Another domain on the same IOAS pins nothing more. */
	{
		struct iommu_hwpt_alloc cmd = { .size = sizeof(cmd),
						.dev_id = dev_id, .pt_id = ioas };

		ck_assert_int_eq(isim_ioctl(tfd, IOMMU_HWPT_ALLOC, &cmd), 0);
		pt2 = cmd.out_hwpt_id;
	}
	ck_assert_uint_eq(isim_phys_total_pins(tm->phys), 4);
	assert_invariants(tm);
	ck_assert_int_eq(obj_destroy(tfd, pt2), 0);
	ck_assert_uint_eq(isim_phys_total_pins(tm->phys), 4);
	/* A bad VA is found at MAP time once a domain exists. */
	ck_assert_int_eq(ioas_map_fixed(tfd, ioas, (void *)(uintptr_t)0x1000, ps,
					X + 0x100000), -EFAULT);
	ck_assert_int_eq(ioas_unmap(tfd, ioas, X, 4 * ps, &len), 0);
	ck_assert_uint_eq(isim_phys_total_pins(tm->phys), 0);
	ck_assert_int_eq(isim_device_detach(tfd, dev_id), 0);
	/* The automatic HWPT went with the last attachment. */
	ck_assert_int_eq(obj_destroy(tfd, pt), -ENOENT);
	ck_assert_int_eq(isim_device_unbind(tfd, dev_id), 0);
}
END_TEST

START_TEST(memlock_limit)
{
	struct isim_machine_config cfg = { .memlock_limit = 4 * 4096 };
	struct driver d = { 0 };
	uint64_t pfn[8];

	isim_close(tfd);
	isim_mem_free(tm, buf);
	isim_machine_free(tm);
	setup_machine(&cfg);
	ck_assert_int_eq(ioas_map_fixed(tfd, ioas, buf, 8 * ps, 0x10000), 0);
	new_access(&d);
	ck_assert_int_eq(iommufd_access_pin_pages(d.access, 0x10000, 4 * ps, pfn,
						  0), 0);
	ck_assert_uint_eq(tm->acct.user_locked_vm, 4);
	/* Over the limit: ENOMEM and no trace of the attempt. */
	ck_assert_int_eq(iommufd_access_pin_pages(d.access, 0x10000 + 4 * ps,
						  ps, pfn, 0), -ENOMEM);
	ck_assert_uint_eq(tm->acct.user_locked_vm, 4);
	ck_assert_uint_eq(isim_phys_total_pins(tm->phys), 4);
	iommufd_access_unpin_pages(d.access, 0x10000, 4 * ps);
	ck_assert_uint_eq(tm->acct.user_locked_vm, 0);
	iommufd_access_destroy(d.access);
}
END_TEST

static int map_file(int memfd, uint64_t start, uint64_t len, uint64_t iova)
{
	struct iommu_ioas_map_file cmd = {
		.size = sizeof(cmd),
		.flags = RW | IOMMU_IOAS_MAP_FIXED_IOVA,
		.ioas_id = ioas,
		.fd = memfd,
		.start = start,
		.length = len,
		.iova = iova,
	};

	return isim_ioctl(tfd, IOMMU_IOAS_MAP_FILE, &cmd);
}

START_TEST(map_file_memfd)
{
	struct iommu_ioas_change_process chg = { .size = sizeof(chg) };
	struct isim_device *dev;
	uint32_t dev_id, pt = ioas;
	struct driver d = { 0 };
	char data[32], out[32];
	int memfd;

	memfd = memfd_create("isim-test", 0);
	ck_assert_int_ge(memfd, 0);
	ck_assert_int_eq(ftruncate(memfd, (off_t)(4 * ps)), 0);
	memset(data, 0x3c, sizeof(data));
	ck_assert_int_eq(pwrite(memfd, data, sizeof(data), (off_t)ps + 8),
			 (ssize_t)sizeof(data));
	ck_assert_int_eq(isim_device_add(tm, NULL, "d0", &dev), 0);
	ck_assert_int_eq(isim_device_bind(tfd, dev, &dev_id), 0);
	ck_assert_int_eq(isim_device_attach(tfd, dev_id, &pt), 0);

	ck_assert_int_eq(map_file(-1, 0, ps, X), -EBADF);
	ck_assert_int_eq(map_file(memfd, 0, 4 * ps, X), 0);
	/* The domain pinned the file's four pages. */
	ck_assert_uint_eq(isim_phys_total_pins(tm->phys), 4);
	/* The IOAS keeps working after the program closes its fd. */
	close(memfd);
	new_access(&d);
	ck_assert_int_eq(iommufd_access_rw(d.access, X + ps + 8, out,
					   sizeof(out), 0), 0);
	ck_assert_mem_eq(out, data, sizeof(out));
	/* Only memfd-backed mappings can change process. */
	ck_assert_int_eq(isim_ioctl(tfd, IOMMU_IOAS_CHANGE_PROCESS, &chg), 0);
	ck_assert_int_eq(ioas_map_fixed(tfd, ioas, buf, ps, X + 8 * ps), 0);
	ck_assert_int_eq(isim_ioctl(tfd, IOMMU_IOAS_CHANGE_PROCESS, &chg),
			 -EINVAL);
	chg.__reserved = 1;
	ck_assert_int_eq(isim_ioctl(tfd, IOMMU_IOAS_CHANGE_PROCESS, &chg),
			 -EOPNOTSUPP);
	iommufd_access_destroy(d.access);
	ck_assert_int_eq(isim_device_unbind(tfd, dev_id), 0);
}
END_TEST

/* Map, copy, pin and unmap with a domain attached, failing the nth step. */
START_TEST(fail_nth_map_copy_pin_unmap)
{
	struct isim_device *dev;
	uint32_t dev_id, pt = ioas, ioas2;
	unsigned n;

	ck_assert_int_eq(isim_device_add(tm, NULL, "d0", &dev), 0);
	ck_assert_int_eq(isim_device_bind(tfd, dev, &dev_id), 0);
	ck_assert_int_eq(isim_device_attach(tfd, dev_id, &pt), 0);
	ck_assert_int_eq(ioas_alloc(tfd, &ioas2), 0);
	for (n = 1; n < 500; n++) {
		struct driver d = { 0 };
		uint64_t pfn[4], iova = 0, len;
		struct iommu_ioas_copy copy = {
			.size = sizeof(copy), .flags = RW, .dst_ioas_id = ioas2,
			.src_ioas_id = ioas, .length = 2 * ps, .src_iova = X,
		};
		uint32_t id;
		int rc;

		isim_fail_nth_set(n);
		rc = ioas_map_fixed(tfd, ioas, buf, 4 * ps, X);
		if (!rc)
			rc = isim_ioctl(tfd, IOMMU_IOAS_COPY, &copy);
		if (!rc) {
			d.access = iommufd_access_create(&tfd->ictx, &driver_ops,
							 &d, &id);
			rc = IS_ERR(d.access) ? (int)PTR_ERR(d.access) : 0;
			if (rc)
				d.access = NULL;
		}
		if (!rc)
			rc = iommufd_access_attach(d.access, ioas2);
		if (!rc)
			rc = iommufd_access_pin_pages(d.access, copy.dst_iova, ps,
						      pfn, 0);
		if (!rc) {
			iommufd_access_unpin_pages(d.access, copy.dst_iova, ps);
			rc = ioas_unmap(tfd, ioas, X, 4 * ps, &len);
		}
		isim_fail_nth_set(0);
		(void)iova;
		if (d.access)
			iommufd_access_destroy(d.access);
		ioas_unmap(tfd, ioas, 0, UINT64_MAX, NULL);
		ioas_unmap(tfd, ioas2, 0, UINT64_MAX, NULL);
		ck_assert_uint_eq(isim_phys_total_pins(tm->phys), 0);
		assert_invariants(tm);
		if (!rc)
			break;
	}
	ck_assert_uint_gt(n, 5);
	ck_assert_uint_lt(n, 500);
	ck_assert_int_eq(isim_device_unbind(tfd, dev_id), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("access");
	TCase *tc = tcase_create("access");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, pin_bookkeeping_worked_example);
	tcase_add_test(tc, pin_errors);
	tcase_add_test(tc, attach_alignment);
	tcase_add_test(tc, unmap_notifier);
	tcase_add_test(tc, unmap_edeadlock);
	tcase_add_test(tc, internal_access_locks);
	tcase_add_test(tc, access_rw_copies_bytes);
	tcase_add_test(tc, domain_pins_on_map);
	tcase_add_test(tc, memlock_limit);
	tcase_add_test(tc, map_file_memfd);
	tcase_add_test(tc, fail_nth_map_copy_pin_unmap);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
