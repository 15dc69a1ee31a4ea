/*
 * IOMMU_TEST_CMD, through the real ioctls only: the upstream
 * iommufd_viommu selftest cases of spec/hw_queue.md §8 restated on the
 * simulator (both fixture variants), and the basics of the other ops of
 * spec/kselftest.md §5: MOCK_DOMAIN[_FLAGS|_REPLACE], ADD_RESERVED,
 * MD_CHECK_MAP/REFS, the access fd with ACCESS_PAGES/RW, unpin on
 * IOAS_UNMAP, MD_CHECK_IOTLB, DEV_CHECK_CACHE and TRIGGER_VEVENT.  Like
 * the kernel's fixture teardown, every test ends by closing the context,
 * asking a fresh one that the test buffer holds no pins, and checking the
 * machine's invariants.
 */
#include "config.h"

#include <poll.h>
#include <sys/mman.h>

#include <iommufd_test.h>

#include "tests/unit/helpers.h"
#include "sim/machine.h"
#include "sim/mm/phys.h"

#define X ((uint64_t)MOCK_APERTURE_START)
#define BUF_PAGES 16
/* One byte past the 16 MiB the ACCESS_* ops accept. */
#define XFER_TOO_BIG ((16ull << 20) + 1)

static size_t ps;
static char *buf;	/* BUF_PAGES pages of 4K-backed program memory */
static uint32_t ioas_id, stdev_id, hwpt_auto, device_id;
static uint32_t hwpt_id, viommu_id, nested_hwpt_id;

/* ------------------------------------------------------------ helpers */

static int check_dev_cache(uint32_t dev, uint32_t slot, uint32_t val)
{
	struct iommu_test_cmd cmd = {
		.op = IOMMU_TEST_OP_DEV_CHECK_CACHE,
		.id = dev,
		.check_dev_cache = { .id = slot, .cache = val },
	};

	return test_cmd(tfd, &cmd);
}

static void assert_dev_cache(uint32_t dev, const uint32_t want[4])
{
	for (uint32_t i = 0; i < MOCK_DEV_CACHE_NUM; i++)
		ck_assert_int_eq(check_dev_cache(dev, i, want[i]), 0);
}

static int trigger_vevent(uint32_t dev)
{
	struct iommu_test_cmd cmd = {
		.op = IOMMU_TEST_OP_TRIGGER_VEVENT,
		.trigger_vevent = { .dev_id = dev },
	};

	return test_cmd(tfd, &cmd);
}

static int create_access(uint32_t ioas, uint32_t flags, int *fd)
{
	struct iommu_test_cmd cmd = {
		.op = IOMMU_TEST_OP_CREATE_ACCESS,
		.id = ioas,
		.create_access = { .flags = flags },
	};
	int rc = test_cmd(tfd, &cmd);

	if (!rc)
		*fd = (int)cmd.create_access.out_access_fd;
	return rc;
}

static int access_pages(int fd, uint32_t flags, uint64_t iova, uint64_t len,
			const void *p, uint32_t *item)
{
	struct iommu_test_cmd cmd = {
		.op = IOMMU_TEST_OP_ACCESS_PAGES,
		.id = (uint32_t)fd,
		.access_pages = { .flags = flags, .iova = iova, .length = len,
				  .uptr = (uintptr_t)p },
	};
	int rc = test_cmd(tfd, &cmd);

	if (!rc && item)
		*item = cmd.access_pages.out_access_pages_id;
	return rc;
}

static int destroy_access_pages(int fd, uint32_t item)
{
	struct iommu_test_cmd cmd = {
		.op = IOMMU_TEST_OP_DESTROY_ACCESS_PAGES,
		.id = (uint32_t)fd,
		.destroy_access_pages = { .access_pages_id = item },
	};

	return test_cmd(tfd, &cmd);
}

static int access_rw(int fd, uint32_t flags, uint64_t iova, uint64_t len,
		     void *p)
{
	struct iommu_test_cmd cmd = {
		.op = IOMMU_TEST_OP_ACCESS_RW,
		.id = (uint32_t)fd,
		.access_rw = { .iova = iova, .length = len,
			       .uptr = (uintptr_t)p, .flags = flags },
	};

	return test_cmd(tfd, &cmd);
}

static int veventq_alloc(uint32_t viommu, uint32_t type, uint32_t depth,
			 uint32_t *id, int *fd)
{
	struct iommu_veventq_alloc cmd = {
		.size = sizeof(cmd),
		.viommu_id = viommu,
		.type = type,
		.veventq_depth = depth,
	};
	int rc = isim_ioctl(tfd, IOMMU_VEVENTQ_ALLOC, &cmd);

	if (!rc) {
		*id = cmd.out_veventq_id;
		*fd = (int)cmd.out_veventq_fd;
	}
	return rc;
}

static int hw_queue_alloc(uint32_t type, uint32_t index, uint64_t iova,
			  uint64_t len, uint32_t *out)
{
	struct iommu_hw_queue_alloc cmd = {
		.size = sizeof(cmd),
		.viommu_id = viommu_id,
		.type = type,
		.index = index,
		.nesting_parent_iova = iova,
		.length = len,
	};
	int rc = isim_ioctl(tfd, IOMMU_HW_QUEUE_ALLOC, &cmd);

	if (!rc && out)
		*out = cmd.out_hw_queue_id;
	return rc;
}

/* One selftest vEVENT as read(2) returns it. */
struct vevent_rec {
	struct iommufd_vevent_header hdr;
	struct iommu_viommu_event_selftest event;
};

/*
 * The upstream helper's reading of @n record slots: each header must
 * follow the previous sequence by exactly one and carry no LOST flag
 * (else EOVERFLOW, with *prev_seq moved on), and the payload must name
 * @virt_id (it looks at the first record's, as upstream does).
 */
static int read_vevents(int fd, unsigned n, uint32_t virt_id, int *prev_seq)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	struct vevent_rec recs[8] = { 0 };
	ssize_t bytes;

	ck_assert_uint_le(n, 8);
	ck_assert_int_eq(poll(&pfd, 1, 1000), 1);
	bytes = isim_read(tfd, fd, recs, n * sizeof(recs[0]));
	if (bytes <= 0)
		return -EFAULT;
	for (unsigned i = 0; i < n; i++) {
		/* The lost marker has no payload: headers are 12 bytes apart
		 * only up to it, and it is always the last record. */
		const struct iommufd_vevent_header *hdr = &recs[i].hdr;

		if (hdr->flags & IOMMU_VEVENTQ_FLAG_LOST_EVENTS ||
		    (int)hdr->sequence - *prev_seq > 1) {
			*prev_seq = (int)hdr->sequence;
			return -EOVERFLOW;
		}
		*prev_seq = (int)hdr->sequence;
		if (recs[0].event.virt_id != virt_id)
			return -EINVAL;
	}
	return 0;
}

static bool device_exists(const char *name)
{
	return isim_device_find(tm, name) != NULL;
}

/* ----------------------------------------------------------- fixtures */

static void base_setup(void)
{
	machine_setup();
	ps = isim_machine_page_size(tm);
	ck_assert_int_eq(isim_mem_alloc(tm, BUF_PAGES * ps, ISIM_BACKING_4K,
					(void **)&buf), 0);
	memset(buf, 0, BUF_PAGES * ps);
	ck_assert_int_eq(ioas_alloc(tfd, &ioas_id), 0);
	/* Every upstream fixture sets the default limit first. */
	{
		struct iommu_test_cmd cmd = {
			.op = IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT,
			.memory_limit = { .limit = 65536 },
		};

		ck_assert_int_eq(test_cmd(tfd, &cmd), 0);
	}
}

/* The no_viommu variant: an IOAS and nothing else. */
static void no_viommu_setup(void)
{
	base_setup();
}

/* The mock_viommu variant of the upstream fixture. */
static void mock_viommu_setup(void)
{
	struct iommu_hwpt_selftest data = { .iotlb = IOMMU_TEST_IOTLB_DEFAULT };

	base_setup();
	ck_assert_int_eq(mock_domain_flags(tfd, ioas_id, 0, &stdev_id,
					   &hwpt_auto, &device_id),
			 0);
	ck_assert_int_eq(hwpt_alloc_data(tfd, device_id, ioas_id,
					 IOMMU_HWPT_ALLOC_NEST_PARENT,
					 IOMMU_HWPT_DATA_NONE, NULL, 0,
					 &hwpt_id),
			 0);
	ck_assert_int_eq(viommu_alloc_data(tfd, device_id, hwpt_id,
					   IOMMU_VIOMMU_TYPE_SELFTEST, NULL, 0,
					   &viommu_id),
			 0);
	ck_assert_int_eq(hwpt_alloc_data(tfd, device_id, viommu_id, 0,
					 IOMMU_HWPT_DATA_SELFTEST, &data,
					 sizeof(data), &nested_hwpt_id),
			 0);
}

/* A mock device on the IOAS: a domain, so mapped pages are pinned. */
static void mock_domain_setup(void)
{
	base_setup();
	ck_assert_int_eq(mock_domain_flags(tfd, ioas_id, 0, &stdev_id,
					   &hwpt_auto, &device_id),
			 0);
}

static void selftest_teardown(void)
{
	char report[2048];

	/* Closing must tear everything down, devices included. */
	isim_close(tfd);
	ck_assert(!device_exists("mock0"));
	/* A fresh context finds no pin left on the buffer. */
	ck_assert_int_eq(isim_open(tm, &tfd), 0);
	ck_assert_int_eq(md_check_refs(tfd, buf, BUF_PAGES * ps, 0), 0);
	isim_close(tfd);
	tfd = NULL;
	ck_assert_msg(isim_check(tm, report, sizeof(report)) == 0, "%s",
		      report);
	ck_assert_uint_eq(isim_phys_total_pins(tm->phys), 0);
	ck_assert_int_eq(isim_mem_free(tm, buf), 0);
	isim_machine_free(tm);
	tm = NULL;
}

/* ------------------------------------------- iommufd_viommu (§8) */

START_TEST(viommu_auto_destroy)
{
	/* Teardown alone must unwind the whole fixture. */
}
END_TEST

START_TEST(viommu_negative_tests)
{
	uint32_t plain, id;

	ck_assert_int_eq(viommu_alloc_data(tfd, device_id, 0,
					   IOMMU_VIOMMU_TYPE_SELFTEST, NULL, 0,
					   &id),
			 -ENOENT);
	ck_assert_int_eq(hwpt_alloc_data(tfd, device_id, ioas_id, 0,
					 IOMMU_HWPT_DATA_NONE, NULL, 0, &plain),
			 0);
	ck_assert_int_eq(viommu_alloc_data(tfd, device_id, plain,
					   IOMMU_VIOMMU_TYPE_SELFTEST, NULL, 0,
					   &id),
			 -EINVAL);
	ck_assert_int_eq(obj_destroy(tfd, plain), 0);
	ck_assert_int_eq(viommu_alloc_data(tfd, device_id, hwpt_id, 0xdead,
					   NULL, 0, &id),
			 -EOPNOTSUPP);
	ck_assert_int_eq(obj_destroy(tfd, hwpt_id), -EBUSY);
	ck_assert_int_eq(obj_destroy(tfd, viommu_id), -EBUSY);
	/* The nested HWPT starts with every IOTLB slot at its data. */
	for (uint32_t i = 0; i < MOCK_NESTED_DOMAIN_IOTLB_NUM; i++)
		ck_assert_int_eq(md_check_iotlb(tfd, nested_hwpt_id, i,
						IOMMU_TEST_IOTLB_DEFAULT),
				 0);
	ck_assert_int_eq(md_check_iotlb(tfd, nested_hwpt_id, 0, 0), -EINVAL);
	ck_assert_int_eq(md_check_iotlb(tfd, nested_hwpt_id, 4,
					IOMMU_TEST_IOTLB_DEFAULT),
			 -EINVAL);
	ck_assert_int_eq(md_check_iotlb(tfd, hwpt_id, 0,
					IOMMU_TEST_IOTLB_DEFAULT),
			 -ENOENT);
	assert_invariants(tm);
}
END_TEST

START_TEST(viommu_negative_tests_no_viommu)
{
	uint32_t id;

	ck_assert_int_eq(viommu_alloc_data(tfd, 0, 0,
					   IOMMU_VIOMMU_TYPE_SELFTEST, NULL, 0,
					   &id),
			 -ENOENT);
}
END_TEST

START_TEST(viommu_alloc_with_data)
{
	struct iommu_viommu_selftest data = { .in_data = 0xbeef };
	uint32_t viommu2;
	size_t len;
	void *p;

	ck_assert_int_eq(viommu_alloc_data(tfd, device_id, hwpt_id,
					   IOMMU_VIOMMU_TYPE_SELFTEST, &data,
					   sizeof(data), &viommu2),
			 0);
	ck_assert_uint_eq(data.out_data, 0xbeef);
	len = (size_t)data.out_mmap_length;
	ck_assert_uint_eq(len, 2 * ps);
	/* Only the exact registered offset and length map. */
	ck_assert_int_eq(isim_mmap(tfd, data.out_mmap_offset + ps, len,
				   PROT_READ | PROT_WRITE, MAP_SHARED, &p),
			 -ENXIO);
	ck_assert_int_eq(isim_mmap(tfd, data.out_mmap_offset + 2 * ps, len,
				   PROT_READ | PROT_WRITE, MAP_SHARED, &p),
			 -ENXIO);
	ck_assert_int_eq(isim_mmap(tfd, data.out_mmap_offset, len / 2,
				   PROT_READ | PROT_WRITE, MAP_SHARED, &p),
			 -ENXIO);
	ck_assert_int_eq(isim_mmap(tfd, data.out_mmap_offset, len * 2,
				   PROT_READ | PROT_WRITE, MAP_SHARED, &p),
			 -ENXIO);
	ck_assert_int_eq(isim_mmap(tfd, data.out_mmap_offset, len,
				   PROT_READ | PROT_WRITE, MAP_SHARED, &p), 0);
	ck_assert_uint_eq(*(uint32_t *)p, 0xbeef);
	/* The live mapping holds the vIOMMU. */
	ck_assert_int_eq(obj_destroy(tfd, viommu2), -EBUSY);
	assert_invariants(tm);
	ck_assert_int_eq(isim_munmap(tfd, p, len), 0);
}
END_TEST

START_TEST(vdevice_alloc_case)
{
	uint32_t veventq_id, id2, vdev_id, pt;
	int fd, fd2, prev_seq = -1;

	ck_assert_int_eq(mock_domain_replace(tfd, stdev_id, nested_hwpt_id,
					     NULL),
			 -ENOENT);
	ck_assert_int_eq(veventq_alloc(viommu_id, IOMMU_VEVENTQ_TYPE_SELFTEST,
				       2, &veventq_id, &fd), 0);
	ck_assert_int_eq(veventq_alloc(viommu_id, IOMMU_VEVENTQ_TYPE_SELFTEST,
				       2, &id2, &fd2), -EEXIST);

	ck_assert_int_eq(vdev_alloc(tfd, viommu_id, device_id, 0x99, &vdev_id),
			 0);
	ck_assert_int_eq(mock_domain_replace(tfd, stdev_id, nested_hwpt_id,
					     &pt),
			 0);
	ck_assert_uint_eq(pt, nested_hwpt_id);
	ck_assert_int_eq(trigger_vevent(device_id), 0);
	ck_assert_int_eq(read_vevents(fd, 1, 0x99, &prev_seq), 0);
	ck_assert_int_eq(prev_seq, 0);
	ck_assert_int_eq(vdev_alloc(tfd, viommu_id, device_id, 0x99, &id2),
			 -EEXIST);
	ck_assert_int_eq(mock_domain_replace(tfd, stdev_id, ioas_id, NULL), 0);
	ck_assert_int_eq(obj_destroy(tfd, vdev_id), 0);

	/* Depth 2: the third event is lost and the reader is told so. */
	ck_assert_int_eq(vdev_alloc(tfd, viommu_id, device_id, 0x88, &vdev_id),
			 0);
	ck_assert_int_eq(mock_domain_replace(tfd, stdev_id, nested_hwpt_id,
					     NULL),
			 0);
	ck_assert_int_eq(trigger_vevent(device_id), 0);
	ck_assert_int_eq(trigger_vevent(device_id), 0);
	ck_assert_int_eq(trigger_vevent(device_id), 0);
	ck_assert_int_eq(read_vevents(fd, 3, 0x88, &prev_seq), -EOVERFLOW);
	ck_assert_int_eq(trigger_vevent(device_id), 0);
	ck_assert_int_eq(read_vevents(fd, 1, 0x88, &prev_seq), 0);
	assert_invariants(tm);

	ck_assert_int_eq(isim_fd_close(tfd, fd), 0);
	/* No queue of the type any more: the report says so. */
	ck_assert_int_eq(obj_destroy(tfd, veventq_id), 0);
	ck_assert_int_eq(trigger_vevent(device_id), -EOPNOTSUPP);
	ck_assert_int_eq(mock_domain_replace(tfd, stdev_id, ioas_id, NULL), 0);
	/* Off the nested HWPT the device has no vIOMMU to report to. */
	ck_assert_int_eq(trigger_vevent(device_id), -ENOENT);
	ck_assert_int_eq(obj_destroy(tfd, vdev_id), 0);
}
END_TEST

START_TEST(vdevice_alloc_case_no_viommu)
{
	uint32_t id;

	ck_assert_int_eq(vdev_alloc(tfd, 0, 0, 0x99, &id), -ENOENT);
}
END_TEST

START_TEST(vdevice_cache)
{
	const uint32_t D = IOMMU_TEST_DEV_CACHE_DEFAULT;
	struct iommu_viommu_invalidate_selftest inv[2] = { 0 };
	const size_t sz = sizeof(inv[0]);
	uint32_t vdev_id, num;

	ck_assert_int_eq(vdev_alloc(tfd, viommu_id, device_id, 0x99, &vdev_id),
			 0);
	assert_dev_cache(device_id, (const uint32_t[4]){ D, D, D, D });
	/* The stdev names the same device. */
	ck_assert_int_eq(check_dev_cache(stdev_id, 0, D), 0);
	ck_assert_int_eq(check_dev_cache(device_id, 4, D), -EINVAL);
	ck_assert_int_eq(check_dev_cache(device_id, 0, 0), -EINVAL);

	num = 0;
	ck_assert_int_eq(hwpt_invalidate(tfd, viommu_id,
					 IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST,
					 inv, sz, &num),
			 0);
	ck_assert_uint_eq(num, 0);
	num = 1;
	ck_assert_int_eq(
		hwpt_invalidate(tfd, viommu_id,
				IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST_INVALID,
				inv, sz, &num),
		-EINVAL);
	ck_assert_uint_eq(num, 0);
	num = 1;
	ck_assert_int_eq(hwpt_invalidate(tfd, viommu_id,
					 IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST,
					 inv, sz + 1, &num),
			 -EINVAL);
	ck_assert_uint_eq(num, 0);
	num = 1;
	ck_assert_int_eq(hwpt_invalidate(tfd, viommu_id,
					 IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST,
					 inv, 1, &num),
			 -EINVAL);
	ck_assert_uint_eq(num, 0);
	inv[0] = (struct iommu_viommu_invalidate_selftest){
		.flags = 0xffffffff, .vdev_id = 0x99 };
	num = 1;
	ck_assert_int_eq(hwpt_invalidate(tfd, viommu_id,
					 IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST,
					 inv, sz, &num),
			 -EOPNOTSUPP);
	ck_assert_uint_eq(num, 0);
	num = 1;
	ck_assert_int_eq(hwpt_invalidate(tfd, viommu_id,
					 IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST,
					 NULL, sz, &num),
			 -EINVAL);
	ck_assert_uint_eq(num, 0);
	num = 1;
	ck_assert_int_eq(hwpt_invalidate(tfd, viommu_id,
					 IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST,
					 inv, 0, &num),
			 -EINVAL);
	ck_assert_uint_eq(num, 0);
	inv[0] = (struct iommu_viommu_invalidate_selftest){
		.vdev_id = 0x99, .cache_id = MOCK_DEV_CACHE_ID_MAX + 1 };
	num = 1;
	ck_assert_int_eq(hwpt_invalidate(tfd, viommu_id,
					 IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST,
					 inv, sz, &num),
			 -EINVAL);
	ck_assert_uint_eq(num, 0);
	inv[0] = (struct iommu_viommu_invalidate_selftest){ .vdev_id = 0x9 };
	num = 1;
	ck_assert_int_eq(hwpt_invalidate(tfd, viommu_id,
					 IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST,
					 inv, sz, &num),
			 -EINVAL);
	ck_assert_uint_eq(num, 0);
	assert_dev_cache(device_id, (const uint32_t[4]){ D, D, D, D });

	/* Processing stops at the first bad entry, the good one stays done. */
	inv[0] = (struct iommu_viommu_invalidate_selftest){ .vdev_id = 0x99 };
	inv[1] = (struct iommu_viommu_invalidate_selftest){
		.flags = 0xffffffff, .vdev_id = 0x99, .cache_id = 1 };
	num = 2;
	ck_assert_int_eq(hwpt_invalidate(tfd, viommu_id,
					 IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST,
					 inv, sz, &num),
			 -EOPNOTSUPP);
	ck_assert_uint_eq(num, 1);
	assert_dev_cache(device_id, (const uint32_t[4]){ 0, D, D, D });
	inv[1] = (struct iommu_viommu_invalidate_selftest){
		.vdev_id = 0x99, .cache_id = MOCK_DEV_CACHE_ID_MAX + 1 };
	num = 2;
	ck_assert_int_eq(hwpt_invalidate(tfd, viommu_id,
					 IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST,
					 inv, sz, &num),
			 -EINVAL);
	ck_assert_uint_eq(num, 1);
	assert_dev_cache(device_id, (const uint32_t[4]){ 0, D, D, D });

	inv[0] = (struct iommu_viommu_invalidate_selftest){
		.vdev_id = 0x99, .cache_id = 1 };
	num = 1;
	ck_assert_int_eq(hwpt_invalidate(tfd, viommu_id,
					 IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST,
					 inv, sz, &num),
			 0);
	ck_assert_uint_eq(num, 1);
	assert_dev_cache(device_id, (const uint32_t[4]){ 0, 0, D, D });
	inv[0].cache_id = 2;
	inv[1] = (struct iommu_viommu_invalidate_selftest){
		.vdev_id = 0x99, .cache_id = 3 };
	num = 2;
	ck_assert_int_eq(hwpt_invalidate(tfd, viommu_id,
					 IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST,
					 inv, sz, &num),
			 0);
	ck_assert_uint_eq(num, 2);
	assert_dev_cache(device_id, (const uint32_t[4]){ 0, 0, 0, 0 });
	inv[0] = (struct iommu_viommu_invalidate_selftest){
		.flags = IOMMU_TEST_INVALIDATE_FLAG_ALL, .vdev_id = 0x99 };
	num = 1;
	ck_assert_int_eq(hwpt_invalidate(tfd, viommu_id,
					 IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST,
					 inv, sz, &num),
			 0);
	ck_assert_uint_eq(num, 1);
	assert_dev_cache(device_id, (const uint32_t[4]){ 0, 0, 0, 0 });

	ck_assert_int_eq(obj_destroy(tfd, vdev_id), 0);
}
END_TEST

START_TEST(hw_queue_case)
{
	const uint64_t iova = X, iova2 = X + ps;
	uint32_t hq0, hq1;

	ck_assert_int_eq(hw_queue_alloc(IOMMU_HW_QUEUE_TYPE_DEFAULT, 0, iova,
					ps, NULL), -EOPNOTSUPP);
	ck_assert_int_eq(hw_queue_alloc(IOMMU_HW_QUEUE_TYPE_SELFTEST, 0, iova,
					0, NULL), -EINVAL);
	ck_assert_int_eq(hw_queue_alloc(IOMMU_HW_QUEUE_TYPE_SELFTEST, 0,
					~(uint64_t)0, ps, NULL), -EOVERFLOW);
	ck_assert_int_eq(hw_queue_alloc(IOMMU_HW_QUEUE_TYPE_SELFTEST, 0, iova,
					ps, NULL), -ENOENT);

	/* Two separate areas, so that each unmaps on its own. */
	ck_assert_int_eq(ioas_map_fixed(tfd, ioas_id, buf, ps, iova), 0);
	ck_assert_int_eq(ioas_map_fixed(tfd, ioas_id, buf + ps, ps, iova2), 0);

	ck_assert_int_eq(hw_queue_alloc(IOMMU_HW_QUEUE_TYPE_SELFTEST, 1, iova,
					ps, NULL), -EIO);
	ck_assert_int_eq(hw_queue_alloc(IOMMU_HW_QUEUE_TYPE_SELFTEST, 2, iova,
					ps, NULL), -EINVAL);
	ck_assert_int_eq(hw_queue_alloc(IOMMU_HW_QUEUE_TYPE_SELFTEST, 0, iova,
					ps, &hq0), 0);
	ck_assert_int_eq(hw_queue_alloc(IOMMU_HW_QUEUE_TYPE_SELFTEST, 0, iova,
					ps, NULL), -EEXIST);
	/* The queue's pin locks its area; the neighbour is free to go. */
	ck_assert_int_eq(ioas_unmap(tfd, ioas_id, iova, ps, NULL), -EBUSY);
	ck_assert_int_eq(ioas_unmap(tfd, ioas_id, iova2, ps, NULL), 0);
	/* Half a page in: the core must hand the driver the in-page offset. */
	ck_assert_int_eq(hw_queue_alloc(IOMMU_HW_QUEUE_TYPE_SELFTEST, 1,
					iova + ps / 2, ps / 2, &hq1), 0);
	ck_assert_int_eq(obj_destroy(tfd, hq0), -EBUSY);
	ck_assert_int_eq(obj_destroy(tfd, hq1), 0);
	ck_assert_int_eq(obj_destroy(tfd, hq0), 0);
	ck_assert_int_eq(ioas_unmap(tfd, ioas_id, iova, ps, NULL), 0);
}
END_TEST

START_TEST(vdevice_tombstone)
{
	uint32_t vdev_id;

	ck_assert_int_eq(vdev_alloc(tfd, viommu_id, device_id, 0x99, &vdev_id),
			 0);
	ck_assert(device_exists("mock0"));
	/* The stdev takes the device, and with it the vDEVICE, away. */
	ck_assert_int_eq(obj_destroy(tfd, stdev_id), 0);
	ck_assert(!device_exists("mock0"));
	ck_assert_int_eq(obj_destroy(tfd, vdev_id), -ENOENT);
	ck_assert_int_eq(check_dev_cache(device_id, 0,
					 IOMMU_TEST_DEV_CACHE_DEFAULT),
			 -ENOENT);
	assert_invariants(tm);
}
END_TEST

/* ------------------------------------------- mock domains and access */

START_TEST(mock_domain_basics)
{
	uint32_t stdev2, hwpt2, idev2, pt, ioas2, plain;
	struct iommu_test_cmd cmd = { 0 };

	/* A second device shares the compatible automatic HWPT. */
	ck_assert_int_eq(mock_domain_flags(tfd, ioas_id, 0, &stdev2, &hwpt2,
					   &idev2),
			 0);
	ck_assert_uint_eq(hwpt2, hwpt_auto);
	ck_assert(device_exists("mock1"));
	ck_assert_int_eq(mock_domain_flags(tfd, ioas_id, 1u << 7, NULL, NULL,
					   NULL),
			 -EINVAL);
	ck_assert_int_eq(mock_domain_flags(tfd, 0, 0, NULL, NULL, NULL),
			 -ENOENT);
	/* A NO_DIRTY device is incompatible with nothing here: attaches. */
	ck_assert_int_eq(mock_domain_flags(tfd, ioas_id,
					   MOCK_FLAGS_DEVICE_NO_DIRTY, &pt,
					   NULL, NULL),
			 0);
	ck_assert_int_eq(obj_destroy(tfd, pt), 0);
	/* Failed creations left no device behind. */
	ck_assert(!device_exists("mock2"));
	ck_assert(!device_exists("mock3"));

	/* The device object belongs to the stdev. */
	ck_assert_int_eq(obj_destroy(tfd, idev2), -EBUSY);
	ck_assert_int_eq(ioas_alloc(tfd, &ioas2), 0);
	ck_assert_int_eq(mock_domain_replace(tfd, stdev2, ioas2, &pt), 0);
	ck_assert_uint_ne(pt, hwpt_auto);
	ck_assert_int_eq(hwpt_alloc_data(tfd, idev2, ioas_id, 0,
					 IOMMU_HWPT_DATA_NONE, NULL, 0, &plain),
			 0);
	ck_assert_int_eq(mock_domain_replace(tfd, stdev2, plain, &pt), 0);
	ck_assert_uint_eq(pt, plain);
	ck_assert_int_eq(obj_destroy(tfd, plain), -EBUSY);
	ck_assert_int_eq(mock_domain_replace(tfd, device_id, ioas2, NULL),
			 -ENOENT);
	ck_assert_int_eq(obj_destroy(tfd, stdev2), 0);
	ck_assert(!device_exists("mock1"));
	ck_assert_int_eq(obj_destroy(tfd, plain), 0);
	ck_assert_int_eq(obj_destroy(tfd, ioas2), 0);
	assert_invariants(tm);

	/* The next device takes the lowest free name again. */
	ck_assert_int_eq(mock_domain_flags(tfd, ioas_id, 0, &stdev2, NULL,
					   NULL),
			 0);
	ck_assert(device_exists("mock1"));

	cmd.op = 0x7777;
	ck_assert_int_eq(test_cmd(tfd, &cmd), -EOPNOTSUPP);
	/* DIRTY with no bitmap is malformed (the kernel's EINVAL). */
	cmd.op = IOMMU_TEST_OP_DIRTY;
	ck_assert_int_eq(test_cmd(tfd, &cmd), -EINVAL);
	cmd = (struct iommu_test_cmd){
		.op = IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT,
		.memory_limit = { .limit = 11 },
	};
	ck_assert_int_eq(test_cmd(tfd, &cmd), -EINVAL);
	cmd.memory_limit.limit = 16;
	ck_assert_int_eq(test_cmd(tfd, &cmd), 0);
}
END_TEST

/*
 * Only the refusals: a reservation that succeeds lives until its IOAS is
 * destroyed, and the core's iopt_destroy_table() does not yet drop the
 * selftest's owner-less reservations first (the kernel does, under
 * CONFIG_IOMMUFD_TEST), so it would WARN at teardown.
 */
START_TEST(add_reserved)
{
	struct iommu_test_cmd cmd = {
		.op = IOMMU_TEST_OP_ADD_RESERVED,
		.id = ioas_id,
		.add_reserved = { .start = X, .length = 0 },
	};

	ck_assert_int_eq(test_cmd(tfd, &cmd), -EINVAL);
	cmd.add_reserved.start = ~(uint64_t)0;
	cmd.add_reserved.length = 2;
	ck_assert_int_eq(test_cmd(tfd, &cmd), -EOVERFLOW);
	/* A mapped range cannot be reserved. */
	ck_assert_int_eq(ioas_map_fixed(tfd, ioas_id, buf, ps, X + ps), 0);
	cmd.add_reserved.start = X;
	cmd.add_reserved.length = 2 * ps;
	ck_assert_int_eq(test_cmd(tfd, &cmd), -EADDRINUSE);
	cmd.id = stdev_id;
	cmd.add_reserved.length = ps;
	ck_assert_int_eq(test_cmd(tfd, &cmd), -ENOENT);
	/* Nothing was reserved: the IOVA below the area still maps. */
	ck_assert_int_eq(ioas_map_fixed(tfd, ioas_id, buf, ps, X), 0);
}
END_TEST

START_TEST(md_check_map_and_refs)
{
	const uint64_t len = 4 * ps;
	char *other;

	ck_assert_int_eq(md_check_refs(tfd, buf, BUF_PAGES * ps, 0), 0);
	ck_assert_int_eq(md_check_refs(tfd, buf, BUF_PAGES * ps, 1), -EIO);
	ck_assert_int_eq(md_check_refs(tfd, buf + 1, ps, 0), -EINVAL);
	ck_assert_int_eq(md_check_refs(tfd, buf, ps + 1, 0), -EINVAL);

	/* Mapped with a domain present: pinned exactly once. */
	ck_assert_int_eq(ioas_map_fixed(tfd, ioas_id, buf, len, X), 0);
	ck_assert_int_eq(md_check_refs(tfd, buf, len, 1), 0);
	ck_assert_int_eq(md_check_refs(tfd, buf + len, ps, 0), 0);
	ck_assert_int_eq(md_check_map(tfd, hwpt_auto, X, len, buf), 0);
	/* 2 KiB granules: half pages line up too. */
	ck_assert_int_eq(md_check_map(tfd, hwpt_auto, X + ps / 2, ps / 2,
				      buf + ps / 2),
			 0);
	ck_assert_int_eq(md_check_map(tfd, hwpt_auto, X + ps, ps, buf),
			 -EINVAL);
	ck_assert_int_eq(md_check_map(tfd, hwpt_auto, X + 1, ps / 2, buf + 1),
			 -EINVAL);
	ck_assert_int_eq(md_check_map(tfd, hwpt_auto, X + len, ps, buf + len),
			 -EINVAL);
	ck_assert_int_eq(md_check_map(tfd, ioas_id, X, len, buf), -ENOENT);

	/* Unmapped user memory is a fault, not a mismatch. */
	other = mmap(NULL, ps, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert(other != MAP_FAILED);
	ck_assert_int_eq(md_check_map(tfd, hwpt_auto, X, ps, other), -EFAULT);
	ck_assert_int_eq(md_check_refs(tfd, other, ps, 0), -EFAULT);
	munmap(other, ps);

	/* A second domain maps the same frames and shares the pin. */
	{
		uint32_t hwpt2;

		ck_assert_int_eq(hwpt_alloc_data(tfd, device_id, ioas_id, 0,
						 IOMMU_HWPT_DATA_NONE, NULL, 0,
						 &hwpt2),
				 0);
		ck_assert_int_eq(md_check_map(tfd, hwpt2, X, len, buf), 0);
		ck_assert_int_eq(md_check_refs(tfd, buf, len, 1), 0);
		ck_assert_int_eq(obj_destroy(tfd, hwpt2), 0);
		ck_assert_int_eq(md_check_refs(tfd, buf, len, 1), 0);
	}

	ck_assert_int_eq(ioas_unmap(tfd, ioas_id, X, len, NULL), 0);
	ck_assert_int_eq(md_check_refs(tfd, buf, len, 0), 0);
	ck_assert_int_eq(md_check_map(tfd, hwpt_auto, X, ps, buf), -EINVAL);
	assert_invariants(tm);
}
END_TEST

START_TEST(md_check_refs_skips_folios)
{
	char *huge;
	const size_t sz = 2u << 20;

	ck_assert_int_eq(isim_mem_alloc(tm, sz, ISIM_BACKING_HUGETLB_2M,
					(void **)&huge), 0);
	ck_assert_int_eq(ioas_map_fixed(tfd, ioas_id, huge, sz, X), 0);
	/* Compound pages pass whatever count is asked for. */
	ck_assert_int_eq(md_check_refs(tfd, huge, sz, 0), 0);
	ck_assert_int_eq(md_check_refs(tfd, huge, sz, 7), 0);
	ck_assert_int_eq(md_check_map(tfd, hwpt_auto, X, sz, huge), 0);
	ck_assert_int_eq(ioas_unmap(tfd, ioas_id, X, sz, NULL), 0);
	ck_assert_int_eq(isim_mem_free(tm, huge), 0);
}
END_TEST

START_TEST(access_pages_basics)
{
	const uint64_t len = 4 * ps;
	uint32_t item, item2;
	int fd, fd_nopin;

	ck_assert_int_eq(create_access(ioas_id, 1u << 3, &fd), -EOPNOTSUPP);
	ck_assert_int_eq(create_access(0, MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES,
				       &fd), -ENOENT);
	ck_assert_int_eq(create_access(ioas_id,
				       MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES,
				       &fd), 0);
	ck_assert_int_eq(create_access(ioas_id, 0, &fd_nopin), 0);
	assert_invariants(tm);
	/* The access holds its IOAS. */
	ck_assert_int_eq(obj_destroy(tfd, ioas_id), -EBUSY);

	ck_assert_int_eq(ioas_map_fixed(tfd, ioas_id, buf, len, X), 0);
	ck_assert_int_eq(access_pages(fd, 0, X, XFER_TOO_BIG, buf,
				      NULL), -ENOMEM);
	ck_assert_int_eq(access_pages(fd, 1u << 3, X, ps, buf, NULL),
			 -EOPNOTSUPP);
	ck_assert_int_eq(access_pages(fd_nopin, 0, X, ps, buf, NULL),
			 -EOPNOTSUPP);
	ck_assert_int_eq(access_pages(12345, 0, X, ps, buf, NULL),
			 -EBADFD);
	ck_assert_int_eq(access_pages(fd, 0, X + len, ps, NULL, NULL), -ENOENT);
	/* The pinned frames are not the ones behind another page. */
	ck_assert_int_eq(access_pages(fd, 0, X, ps, buf + ps, NULL), -EBADE);
	ck_assert_int_eq(md_check_refs(tfd, buf, len, 1), 0);

	ck_assert_int_eq(access_pages(fd, MOCK_FLAGS_ACCESS_WRITE, X, len, buf,
				      &item), 0);
	ck_assert_int_eq(access_pages(fd, 0, X + ps, ps, buf + ps, &item2), 0);
	ck_assert_uint_ne(item, item2);
	/* Still one pin per page: the pages object pins once. */
	ck_assert_int_eq(md_check_refs(tfd, buf, len, 1), 0);
	assert_invariants(tm);
	ck_assert_int_eq(destroy_access_pages(fd, item), 0);
	ck_assert_int_eq(destroy_access_pages(fd, item), -ENOENT);
	ck_assert_int_eq(destroy_access_pages(fd_nopin, item2), -ENOENT);
	ck_assert_int_eq(destroy_access_pages(fd, item2), 0);

	/* Closing the fd destroys the access and lets the IOAS go. */
	ck_assert_int_eq(access_pages(fd, 0, X, len, buf, &item), 0);
	ck_assert_int_eq(isim_fd_close(tfd, fd), 0);
	ck_assert_int_eq(isim_fd_close(tfd, fd_nopin), 0);
	ck_assert_int_eq(destroy_access_pages(fd, item), -EBADFD);
	assert_invariants(tm);
	ck_assert_int_eq(md_check_refs(tfd, buf, len, 1), 0);
	/* The last domain goes with the device: nothing holds a pin. */
	ck_assert_int_eq(obj_destroy(tfd, stdev_id), 0);
	ck_assert_int_eq(md_check_refs(tfd, buf, len, 0), 0);
	ck_assert_int_eq(ioas_unmap(tfd, ioas_id, X, len, NULL), 0);
	ck_assert_int_eq(md_check_refs(tfd, buf, len, 0), 0);
	ck_assert_int_eq(obj_destroy(tfd, ioas_id), 0);
}
END_TEST

START_TEST(access_pin_unmap)
{
	const uint64_t len = 2 * ps;
	uint32_t ioas2, item;
	int fd;

	/* No domain on this IOAS: only the access pins. */
	ck_assert_int_eq(ioas_alloc(tfd, &ioas2), 0);
	ck_assert_int_eq(create_access(ioas2,
				       MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES,
				       &fd), 0);
	ck_assert_int_eq(ioas_map_fixed(tfd, ioas2, buf, len, X), 0);
	ck_assert_int_eq(md_check_refs(tfd, buf, len, 0), 0);
	ck_assert_int_eq(access_pages(fd, 0, X, len, buf, &item), 0);
	ck_assert_int_eq(md_check_refs(tfd, buf, len, 1), 0);
	/* The unmap asks the access to let go: the item is gone. */
	ck_assert_int_eq(ioas_unmap(tfd, ioas2, X, len, NULL), 0);
	ck_assert_int_eq(md_check_refs(tfd, buf, len, 0), 0);
	ck_assert_int_eq(destroy_access_pages(fd, item), -ENOENT);
	assert_invariants(tm);

	/* Replacing the IOAS drops the pins of the old one. */
	ck_assert_int_eq(ioas_map_fixed(tfd, ioas2, buf, len, X), 0);
	ck_assert_int_eq(access_pages(fd, 0, X, len, buf, &item), 0);
	{
		struct iommu_test_cmd cmd = {
			.op = IOMMU_TEST_OP_ACCESS_REPLACE_IOAS,
			.id = (uint32_t)fd,
			.access_replace_ioas = { .ioas_id = ioas_id },
		};

		ck_assert_int_eq(test_cmd(tfd, &cmd), 0);
		ck_assert_int_eq(destroy_access_pages(fd, item), -ENOENT);
		ck_assert_int_eq(md_check_refs(tfd, buf, len, 0), 0);
		ck_assert_int_eq(obj_destroy(tfd, ioas2), 0);
		cmd.access_replace_ioas.ioas_id = ioas2;
		ck_assert_int_eq(test_cmd(tfd, &cmd), -ENOENT);
	}
	/* Teardown closes the access fd still open. */
}
END_TEST

START_TEST(access_rw_basics)
{
	const uint64_t len = 2 * ps;
	char data[64], back[64];
	int fd;

	for (unsigned i = 0; i < sizeof(data); i++)
		data[i] = (char)(0xa0 + i);
	ck_assert_int_eq(create_access(ioas_id, 0, &fd), 0);
	ck_assert_int_eq(ioas_map_fixed(tfd, ioas_id, buf, len, X), 0);

	/* Across the page boundary, both ways, both paths. */
	ck_assert_int_eq(access_rw(fd, MOCK_ACCESS_RW_WRITE, X + ps - 10,
				   sizeof(data), data), 0);
	ck_assert_mem_eq(buf + ps - 10, data, sizeof(data));
	memset(back, 0, sizeof(back));
	ck_assert_int_eq(access_rw(fd, 0, X + ps - 10, sizeof(back), back), 0);
	ck_assert_mem_eq(back, data, sizeof(data));
	memset(back, 0, sizeof(back));
	ck_assert_int_eq(access_rw(fd, MOCK_ACCESS_RW_SLOW_PATH, X + ps - 10,
				   sizeof(back), back), 0);
	ck_assert_mem_eq(back, data, sizeof(data));

	ck_assert_int_eq(access_rw(fd, 1u << 5, X, 8, back), -EOPNOTSUPP);
	ck_assert_int_eq(access_rw(fd, 0, X, XFER_TOO_BIG, back),
			 -ENOMEM);
	ck_assert_int_eq(access_rw(fd, 0, X + len - 4, 8, back), -ENOENT);
	ck_assert_int_eq(access_rw(fd, MOCK_ACCESS_RW_WRITE, X, 8, NULL),
			 -EFAULT);
	ck_assert_int_eq(access_rw(12345, 0, X, 8, back), -EBADFD);
	/* rw pins nothing of its own: only the domain's pin remains. */
	ck_assert_int_eq(md_check_refs(tfd, buf, len, 1), 0);
	ck_assert_int_eq(isim_fd_close(tfd, fd), 0);
	ck_assert_int_eq(ioas_unmap(tfd, ioas_id, X, len, NULL), 0);
	ck_assert_int_eq(md_check_refs(tfd, buf, len, 0), 0);
}
END_TEST

START_TEST(trigger_vevent_without_viommu)
{
	ck_assert_int_eq(trigger_vevent(device_id), -ENOENT);
	ck_assert_int_eq(trigger_vevent(ioas_id), -ENOENT);
	ck_assert_int_eq(check_dev_cache(device_id, 3,
					 IOMMU_TEST_DEV_CACHE_DEFAULT), 0);
}
END_TEST

/*
 * Every fallible point of MOCK_DOMAIN, CREATE_ACCESS, ACCESS_PAGES and
 * ACCESS_RW fails once in turn: each failure is reported, and its unwind
 * leaves no object, device, pin or broken invariant behind.
 */
START_TEST(fail_nth_sweep)
{
	const uint64_t len = 2 * ps;
	char tmp[16];
	unsigned n;

	ck_assert_int_eq(ioas_map_fixed(tfd, ioas_id, buf, len, X), 0);
	for (n = 1; n < 400; n++) {
		uint32_t stdev2 = 0, item;
		int fd = -1, rc;

		isim_fail_nth_set(n);
		rc = mock_domain_flags(tfd, ioas_id, 0, &stdev2, NULL, NULL);
		if (!rc)
			rc = create_access(ioas_id,
					   MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES,
					   &fd);
		if (!rc)
			rc = access_pages(fd, MOCK_FLAGS_ACCESS_WRITE, X, len,
					  buf, &item);
		if (!rc)
			rc = access_rw(fd, 0, X + 8, sizeof(tmp), tmp);
		if (isim_fail_nth_get() == 0 && !rc)
			ck_abort_msg("n=%u: injected failure not reported", n);
		isim_fail_nth_set(0);
		if (fd >= 0)
			ck_assert_int_eq(isim_fd_close(tfd, fd), 0);
		if (stdev2)
			ck_assert_int_eq(obj_destroy(tfd, stdev2), 0);
		ck_assert(!device_exists("mock1"));
		ck_assert_int_eq(md_check_refs(tfd, buf, len, 1), 0);
		assert_invariants(tm);
		if (!rc)
			break;
	}
	ck_assert_uint_gt(n, 5);
	ck_assert_uint_lt(n, 400);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("selftest_ops");
	TCase *mock = tcase_create("mock_viommu");
	TCase *none = tcase_create("no_viommu");
	TCase *md = tcase_create("mock_domain");

	tcase_add_checked_fixture(mock, mock_viommu_setup, selftest_teardown);
	tcase_add_test(mock, viommu_auto_destroy);
	tcase_add_test(mock, viommu_negative_tests);
	tcase_add_test(mock, viommu_alloc_with_data);
	tcase_add_test(mock, vdevice_alloc_case);
	tcase_add_test(mock, vdevice_cache);
	tcase_add_test(mock, hw_queue_case);
	tcase_add_test(mock, vdevice_tombstone);
	suite_add_tcase(s, mock);

	tcase_add_checked_fixture(none, no_viommu_setup, selftest_teardown);
	tcase_add_test(none, viommu_auto_destroy);
	tcase_add_test(none, viommu_negative_tests_no_viommu);
	tcase_add_test(none, vdevice_alloc_case_no_viommu);
	suite_add_tcase(s, none);

	tcase_add_checked_fixture(md, mock_domain_setup, selftest_teardown);
	tcase_add_test(md, mock_domain_basics);
	tcase_add_test(md, add_reserved);
	tcase_add_test(md, md_check_map_and_refs);
	tcase_add_test(md, md_check_refs_skips_folios);
	tcase_add_test(md, access_pages_basics);
	tcase_add_test(md, access_pin_unmap);
	tcase_add_test(md, access_rw_basics);
	tcase_add_test(md, trigger_vevent_without_viommu);
	tcase_add_test(md, fail_nth_sweep);
	suite_add_tcase(s, md);

	return run_suite(s);
}
