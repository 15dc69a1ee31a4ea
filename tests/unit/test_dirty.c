/*
 * Dirty tracking through the real ioctls: IOMMU_HWPT_SET_DIRTY_TRACKING,
 * IOMMU_HWPT_GET_DIRTY_BITMAP and IOMMU_TEST_OP_DIRTY, their errno rows in
 * the kernel's check order, and the bitmap a device write produces
 * (isim_dma), with the kernel's quirks: bits are only ever set, a bitmap
 * page that cannot be written loses its bits without an error, the walk
 * stops silently at the first hole, and every enable starts clean.
 *
 * Fixture: a mock device bound and attached to a paging HWPT allocated
 * with IOMMU_HWPT_ALLOC_DIRTY_TRACKING, and BUF_PAGES pages mapped at X.
 * The mock domain's granule is half a page.
 */
#include "config.h"

#include <sys/mman.h>
#include <unistd.h>

#include <iommufd_test.h>

#include "tests/unit/helpers.h"

#define X ((uint64_t)MOCK_APERTURE_START)
#define BUF_PAGES 16

static size_t ps;
static char *buf;	/* BUF_PAGES pages, mapped at X */
static struct isim_device *dev;
static uint32_t ioas_id, dev_id, hwpt_id;
static uint64_t bitmap[64];	/* plenty for BUF_PAGES at half pages */

/* ------------------------------------------------------------ helpers */

static int set_tracking_raw(uint32_t id, uint32_t flags, uint32_t reserved)
{
	struct iommu_hwpt_set_dirty_tracking cmd = {
		.size = sizeof(cmd),
		.flags = flags,
		.hwpt_id = id,
		.__reserved = reserved,
	};

	return isim_ioctl(tfd, IOMMU_HWPT_SET_DIRTY_TRACKING, &cmd);
}

static int set_tracking(uint32_t id, bool on)
{
	return set_tracking_raw(id, on ? IOMMU_HWPT_DIRTY_TRACKING_ENABLE : 0,
				0);
}

static int get_bitmap_raw(uint32_t id, uint32_t flags, uint32_t reserved,
			  uint64_t iova, uint64_t length, uint64_t page_size,
			  void *data)
{
	struct iommu_hwpt_get_dirty_bitmap cmd = {
		.size = sizeof(cmd),
		.hwpt_id = id,
		.flags = flags,
		.__reserved = reserved,
		.iova = iova,
		.length = length,
		.page_size = page_size,
		.data = (uintptr_t)data,
	};

	return isim_ioctl(tfd, IOMMU_HWPT_GET_DIRTY_BITMAP, &cmd);
}

/* The whole buffer at page granularity into a zeroed bitmap[]. */
static int get_bitmap(uint32_t flags)
{
	memset(bitmap, 0, sizeof(bitmap));
	return get_bitmap_raw(hwpt_id, flags, 0, X, BUF_PAGES * ps, ps,
			      bitmap);
}

static bool bit(const void *map, uint64_t i)
{
	const unsigned long *w = map;

	return (w[i / (8 * sizeof(long))] >> (i % (8 * sizeof(long)))) & 1;
}

static unsigned count_bits(const void *map, uint64_t nbits)
{
	unsigned n = 0;

	for (uint64_t i = 0; i < nbits; i++)
		n += bit(map, i);
	return n;
}

static int test_dirty(uint32_t id, uint64_t iova, uint64_t length,
		      uint64_t page_size, void *uptr, uint64_t *nr)
{
	struct iommu_test_cmd cmd = {
		.size = sizeof(cmd),
		.op = IOMMU_TEST_OP_DIRTY,
		.id = id,
		.dirty = {
			.iova = iova,
			.length = length,
			.page_size = page_size,
			.uptr = (uintptr_t)uptr,
		},
	};
	int rc = isim_ioctl(tfd, IOMMU_TEST_CMD, &cmd);

	if (!rc && nr)
		*nr = cmd.dirty.out_nr_dirty;
	return rc;
}

static void dma_write(uint64_t iova, size_t len)
{
	char data[64] = { 1 };

	ck_assert_uint_le(len, sizeof(data));
	ck_assert_int_eq(isim_dma(dev, iova, data, len, ISIM_DMA_WRITE), 0);
}

/* ------------------------------------------------------------ fixture */

static void setup(void)
{
	uint32_t pt;

	machine_setup();
	ps = isim_machine_page_size(tm);
	ck_assert_uint_le(2 * BUF_PAGES, sizeof(bitmap) * 8);
	ck_assert_int_eq(isim_mem_alloc(tm, BUF_PAGES * ps, ISIM_BACKING_4K,
					(void **)&buf), 0);
	ck_assert_int_eq(ioas_alloc(tfd, &ioas_id), 0);
	ck_assert_int_eq(isim_device_add(tm, NULL, "d0", &dev), 0);
	ck_assert_int_eq(isim_device_bind(tfd, dev, &dev_id), 0);
	ck_assert_int_eq(hwpt_alloc(tfd, dev_id, ioas_id,
				    IOMMU_HWPT_ALLOC_DIRTY_TRACKING, &hwpt_id),
			 0);
	pt = hwpt_id;
	ck_assert_int_eq(isim_device_attach(tfd, dev_id, &pt), 0);
	ck_assert_int_eq(ioas_map_fixed(tfd, ioas_id, buf, BUF_PAGES * ps, X),
			 0);
}

static void teardown(void)
{
	ck_assert_int_eq(isim_device_detach(tfd, dev_id), 0);
	ck_assert_int_eq(obj_destroy(tfd, hwpt_id), 0);
	ck_assert_int_eq(isim_device_unbind(tfd, dev_id), 0);
	isim_close(tfd);
	tfd = NULL;
	assert_invariants(tm);
	ck_assert_int_eq(isim_mem_free(tm, buf), 0);
	isim_machine_free(tm);
	tm = NULL;
}

/* ------------------------------------------------------------ tests */

START_TEST(set_tracking_errnos)
{
	uint32_t plain;

	/* Flags other than ENABLE, before the lookup. */
	ck_assert_int_eq(set_tracking_raw(hwpt_id, 1u << 1, 0), -EOPNOTSUPP);
	ck_assert_int_eq(set_tracking_raw(999, 1u << 31, 0), -EOPNOTSUPP);
	/* Not a paging HWPT: an IOAS, a device, nothing. */
	ck_assert_int_eq(set_tracking(ioas_id, true), -ENOENT);
	ck_assert_int_eq(set_tracking(dev_id, true), -ENOENT);
	ck_assert_int_eq(set_tracking(999, true), -ENOENT);
	/* Without IOMMU_HWPT_ALLOC_DIRTY_TRACKING the domain has no dirty
	 * ops, for disabling too. */
	ck_assert_int_eq(hwpt_alloc(tfd, dev_id, ioas_id, 0, &plain), 0);
	ck_assert_int_eq(set_tracking(plain, true), -EOPNOTSUPP);
	ck_assert_int_eq(set_tracking(plain, false), -EOPNOTSUPP);
	ck_assert_int_eq(obj_destroy(tfd, plain), 0);
	/* The kernel never looks at __reserved here. */
	ck_assert_int_eq(set_tracking_raw(hwpt_id, 0, 7), 0);
	ck_assert_int_eq(set_tracking(hwpt_id, true), 0);
	ck_assert_int_eq(set_tracking(hwpt_id, true), 0);
	ck_assert_int_eq(set_tracking(hwpt_id, false), 0);
	ck_assert_int_eq(set_tracking(hwpt_id, false), 0);
	/* The struct ends at __reserved: one byte short is EINVAL. */
	{
		struct iommu_hwpt_set_dirty_tracking cmd = {
			.size = offsetof(struct iommu_hwpt_set_dirty_tracking,
					 __reserved) + 3,
			.flags = IOMMU_HWPT_DIRTY_TRACKING_ENABLE,
			.hwpt_id = hwpt_id,
		};

		ck_assert_int_eq(isim_ioctl(tfd, IOMMU_HWPT_SET_DIRTY_TRACKING,
					    &cmd), -EINVAL);
	}
}
END_TEST

START_TEST(get_bitmap_errnos)
{
	uint64_t len = BUF_PAGES * ps;
	uint32_t plain;

	ck_assert_int_eq(set_tracking(hwpt_id, true), 0);
	/* Flags and __reserved, before the lookup. */
	ck_assert_int_eq(get_bitmap_raw(hwpt_id, 1u << 1, 0, X, len, ps, bitmap),
			 -EOPNOTSUPP);
	ck_assert_int_eq(get_bitmap_raw(999, 0, 1, X, len, ps, bitmap),
			 -EOPNOTSUPP);
	ck_assert_int_eq(get_bitmap_raw(ioas_id, 0, 0, X, len, ps, bitmap),
			 -ENOENT);
	ck_assert_int_eq(get_bitmap_raw(999, 0, 0, X, len, ps, bitmap),
			 -ENOENT);
	/* iova + length - 1 wraps. */
	ck_assert_int_eq(get_bitmap_raw(hwpt_id, 0, 0, UINT64_MAX - ps + 1,
					2 * ps, ps, bitmap), -EOVERFLOW);
	ck_assert_int_eq(get_bitmap_raw(hwpt_id, 0, 0, ps, 0, ps, bitmap),
			 -EOVERFLOW);
	/* Not aligned to the IOAS's IOVA alignment (the mock granule). */
	ck_assert_int_eq(get_bitmap_raw(hwpt_id, 0, 0, X + 0x100, len, 0x100,
					bitmap), -EINVAL);
	ck_assert_int_eq(get_bitmap_raw(hwpt_id, 0, 0, X, len - 0x100, 0x100,
					bitmap), -EINVAL);
	/* page_size 0, or iova / end not aligned to it. */
	ck_assert_int_eq(get_bitmap_raw(hwpt_id, 0, 0, X, len, 0, bitmap),
			 -EINVAL);
	ck_assert_int_eq(get_bitmap_raw(hwpt_id, 0, 0, X + ps, len, 2 * ps,
					bitmap), -EINVAL);
	ck_assert_int_eq(get_bitmap_raw(hwpt_id, 0, 0, X, len + ps, 2 * ps,
					bitmap), -EINVAL);
	/* A HWPT without dirty ops: after the range checks. */
	ck_assert_int_eq(hwpt_alloc(tfd, dev_id, ioas_id, 0, &plain), 0);
	ck_assert_int_eq(get_bitmap_raw(plain, 0, 0, X, len, 0, bitmap),
			 -EINVAL);
	ck_assert_int_eq(get_bitmap_raw(plain, 0, 0, X, len, ps, bitmap),
			 -EOPNOTSUPP);
	ck_assert_int_eq(obj_destroy(tfd, plain), 0);
	/* Length 0 at IOVA 0 is the whole space and passes the checks. */
	ck_assert_int_eq(get_bitmap_raw(hwpt_id, 0, 0, 0, 0, ps, bitmap), 0);
	/* A bitmap that cannot be written: the bits are lost, rc is 0. */
	dma_write(X, 8);
	ck_assert_int_eq(get_bitmap_raw(hwpt_id, 0, 0, X, len, ps,
					(void *)(uintptr_t)8), 0);
	/* ... and the dirty bits were cleared all the same. */
	ck_assert_int_eq(get_bitmap(0), 0);
	ck_assert_uint_eq(count_bits(bitmap, BUF_PAGES), 0);
	/* Unmapped IOVA and a range past the mapping: 0, nothing. */
	ck_assert_int_eq(get_bitmap_raw(hwpt_id, 0, 0, X + len, len, ps,
					bitmap), 0);
	ck_assert_uint_eq(count_bits(bitmap, BUF_PAGES), 0);
}
END_TEST

START_TEST(dma_write_marks_page)
{
	ck_assert_int_eq(set_tracking(hwpt_id, true), 0);
	ck_assert_int_eq(get_bitmap(0), 0);
	ck_assert_uint_eq(count_bits(bitmap, BUF_PAGES), 0);

	dma_write(X + 3 * ps + 5, 10);
	ck_assert_int_eq(get_bitmap(0), 0);
	ck_assert(bit(bitmap, 3));
	ck_assert_uint_eq(count_bits(bitmap, BUF_PAGES), 1);
	/* Read and cleared. */
	ck_assert_int_eq(get_bitmap(0), 0);
	ck_assert_uint_eq(count_bits(bitmap, BUF_PAGES), 0);

	/* A write across a page boundary dirties both pages. */
	dma_write(X + 7 * ps - 4, 8);
	/* NO_CLEAR reports and keeps. */
	ck_assert_int_eq(get_bitmap(IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR), 0);
	ck_assert(bit(bitmap, 6) && bit(bitmap, 7));
	ck_assert_uint_eq(count_bits(bitmap, BUF_PAGES), 2);
	ck_assert_int_eq(get_bitmap(IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR), 0);
	ck_assert_uint_eq(count_bits(bitmap, BUF_PAGES), 2);

	/* Bits are only set: what the bitmap held stays. */
	memset(bitmap, 0, sizeof(bitmap));
	bitmap[0] = 1ull << 12;
	ck_assert_int_eq(get_bitmap_raw(hwpt_id, 0, 0, X, BUF_PAGES * ps, ps,
					bitmap), 0);
	ck_assert(bit(bitmap, 6) && bit(bitmap, 7) && bit(bitmap, 12));
	ck_assert_uint_eq(count_bits(bitmap, BUF_PAGES), 3);
	ck_assert_int_eq(get_bitmap(0), 0);
	ck_assert_uint_eq(count_bits(bitmap, BUF_PAGES), 0);

	/* At the mock's granule (half a page) only the written half. */
	dma_write(X + 2 * ps + ps / 2 + 1, 1);
	memset(bitmap, 0, sizeof(bitmap));
	ck_assert_int_eq(get_bitmap_raw(hwpt_id, 0, 0, X, BUF_PAGES * ps,
					ps / 2, bitmap), 0);
	ck_assert(bit(bitmap, 5));
	ck_assert_uint_eq(count_bits(bitmap, 2 * BUF_PAGES), 1);

	/* A sub-range: bit 0 is its first page. */
	dma_write(X + 9 * ps, 1);
	memset(bitmap, 0, sizeof(bitmap));
	ck_assert_int_eq(get_bitmap_raw(hwpt_id, 0, 0, X + 8 * ps, 4 * ps, ps,
					bitmap), 0);
	ck_assert_uint_eq(bitmap[0], 2);
}
END_TEST

START_TEST(tracking_off_and_reenable)
{
	/* Writes while tracking is off are not recorded. */
	dma_write(X, 1);
	ck_assert_int_eq(set_tracking(hwpt_id, true), 0);
	ck_assert_int_eq(get_bitmap(0), 0);
	ck_assert_uint_eq(count_bits(bitmap, BUF_PAGES), 0);

	/* Every enable starts clean, also when already on. */
	dma_write(X + ps, 1);
	ck_assert_int_eq(set_tracking(hwpt_id, true), 0);
	ck_assert_int_eq(get_bitmap(0), 0);
	ck_assert_uint_eq(count_bits(bitmap, BUF_PAGES), 0);

	/* Disabling keeps what was recorded; reading while off gives 0 and
	 * nothing (the mock refuses, the core drops its error). */
	dma_write(X + 2 * ps, 1);
	ck_assert_int_eq(set_tracking(hwpt_id, false), 0);
	dma_write(X + 3 * ps, 1);
	ck_assert_int_eq(get_bitmap(0), 0);
	ck_assert_uint_eq(count_bits(bitmap, BUF_PAGES), 0);
	/* Re-enabling clears it. */
	ck_assert_int_eq(set_tracking(hwpt_id, true), 0);
	ck_assert_int_eq(get_bitmap(0), 0);
	ck_assert_uint_eq(count_bits(bitmap, BUF_PAGES), 0);
}
END_TEST

START_TEST(walk_stops_at_hole)
{
	uint64_t len;

	/* Punch out pages 4..7: two areas remain, with a hole between. */
	ck_assert_int_eq(ioas_unmap(tfd, ioas_id, X, BUF_PAGES * ps, &len), 0);
	ck_assert_int_eq(ioas_map_fixed(tfd, ioas_id, buf, 4 * ps, X), 0);
	ck_assert_int_eq(ioas_map_fixed(tfd, ioas_id, buf + 8 * ps, 8 * ps,
					X + 8 * ps), 0);
	ck_assert_int_eq(set_tracking(hwpt_id, true), 0);
	dma_write(X + ps, 1);
	dma_write(X + 9 * ps, 1);
	/* Only the run from the start is read; rc is still 0. */
	ck_assert_int_eq(get_bitmap(0), 0);
	ck_assert(bit(bitmap, 1));
	ck_assert_uint_eq(count_bits(bitmap, BUF_PAGES), 1);
	/* The area after the hole kept its bit. */
	memset(bitmap, 0, sizeof(bitmap));
	ck_assert_int_eq(get_bitmap_raw(hwpt_id, 0, 0, X + 8 * ps, 8 * ps, ps,
					bitmap), 0);
	ck_assert_uint_eq(bitmap[0], 2);
	/* A range that starts in the hole reads nothing. */
	dma_write(X + 10 * ps, 1);
	memset(bitmap, 0, sizeof(bitmap));
	ck_assert_int_eq(get_bitmap_raw(hwpt_id, 0, 0, X + 4 * ps, 12 * ps, ps,
					bitmap), 0);
	ck_assert_uint_eq(count_bits(bitmap, 12), 0);
}
END_TEST

START_TEST(unaligned_and_readonly_bitmap)
{
	char *pages;

	pages = mmap(NULL, 2 * ps, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(pages, MAP_FAILED);
	ck_assert_int_eq(set_tracking(hwpt_id, true), 0);

	/* A bitmap at an odd address: bit i is bit i % 8 of byte i / 8
	 * (on a little-endian host). */
	dma_write(X + 1 * ps, 1);
	dma_write(X + 10 * ps, 1);
	ck_assert_int_eq(get_bitmap_raw(hwpt_id, 0, 0, X, BUF_PAGES * ps, ps,
					pages + 0xff1), 0);
	ck_assert_uint_eq((uint8_t)pages[0xff1], 1u << 1);
	ck_assert_uint_eq((uint8_t)pages[0xff2], 1u << 2);

	/* Bits 0-7 in the last byte of a writable page, bits 8-15 in a
	 * read-only one: the first page's bit arrives, the other is lost,
	 * and the call succeeds. */
	memset(pages, 0, 2 * ps);
	ck_assert_int_eq(mprotect(pages + ps, ps, PROT_READ), 0);
	dma_write(X + 2 * ps, 1);
	dma_write(X + 9 * ps, 1);
	ck_assert_int_eq(get_bitmap_raw(hwpt_id, 0, 0, X, BUF_PAGES * ps, ps,
					pages + ps - 1), 0);
	ck_assert_uint_eq((uint8_t)pages[ps - 1], 1u << 2);
	ck_assert_uint_eq((uint8_t)pages[ps], 0);
	ck_assert_int_eq(get_bitmap(0), 0);
	ck_assert_uint_eq(count_bits(bitmap, BUF_PAGES), 0);
	ck_assert_int_eq(munmap(pages, 2 * ps), 0);
}
END_TEST

START_TEST(test_op_dirty)
{
	uint64_t g = ps / 2, nr = 0;
	/* Granules 0, 2 and 20, and granule 32, just past the 16 pages. */
	uint64_t in[1] = { (1ull << 0) | (1ull << 2) | (1ull << 20) |
			   (1ull << 32) };

	/* Argument checks, before the lookup. */
	ck_assert_int_eq(test_dirty(hwpt_id, X, 64 * g, 0, in, &nr), -EINVAL);
	ck_assert_int_eq(test_dirty(hwpt_id, X, 0, g, in, &nr), -EINVAL);
	ck_assert_int_eq(test_dirty(hwpt_id, X + 1, 64 * g, g, in, &nr),
			 -EINVAL);
	ck_assert_int_eq(test_dirty(hwpt_id, X, 64 * g + 1, g, in, &nr),
			 -EINVAL);
	ck_assert_int_eq(test_dirty(999, X, 64 * g, g, NULL, &nr), -EINVAL);
	ck_assert_int_eq(test_dirty(ioas_id, X, 64 * g, g, in, &nr), -ENOENT);
	ck_assert_int_eq(test_dirty(999, X, 64 * g, g, in, &nr), -ENOENT);
	/* Tracking off. */
	ck_assert_int_eq(test_dirty(hwpt_id, X, 64 * g, g, in, &nr), -EINVAL);
	ck_assert_int_eq(set_tracking(hwpt_id, true), 0);
	/* An unreadable bitmap; a bitmap kvzalloc() would refuse. */
	ck_assert_int_eq(test_dirty(hwpt_id, X, 64 * g, g,
				    (void *)(uintptr_t)8, &nr), -EFAULT);
	ck_assert_int_eq(test_dirty(hwpt_id, 0, 1ull << 62, 1, in, &nr),
			 -ENOMEM);

	/* The selftest's bitmap is unsigned long: word layout, not bytes. */
	{
		unsigned long words[64 / (8 * sizeof(long))] = { 0 };

		for (unsigned i = 0; i < 64; i++)
			if ((in[0] >> i) & 1)
				words[i / (8 * sizeof(long))] |=
					1ul << (i % (8 * sizeof(long)));
		ck_assert_int_eq(test_dirty(hwpt_id, X, 64 * g, g, words, &nr),
				 0);
	}
	ck_assert_uint_eq(nr, 3);
	memset(bitmap, 0, sizeof(bitmap));
	ck_assert_int_eq(get_bitmap_raw(hwpt_id, 0, 0, X, BUF_PAGES * ps, g,
					bitmap), 0);
	ck_assert(bit(bitmap, 0) && bit(bitmap, 2) && bit(bitmap, 20));
	ck_assert_uint_eq(count_bits(bitmap, 2 * BUF_PAGES), 3);
	/* Granule 5 is the second half of page 2. */
	in[0] = 1ull << 5;
	ck_assert_int_eq(test_dirty(hwpt_id, X, 8 * g, g, in, &nr), 0);
	ck_assert_uint_eq(nr, 1);
	ck_assert_int_eq(get_bitmap(0), 0);
	ck_assert(bit(bitmap, 2));
	ck_assert_uint_eq(count_bits(bitmap, BUF_PAGES), 1);
}
END_TEST

START_TEST(no_dirty_device)
{
	struct iommu_test_cmd cmd = {
		.size = sizeof(cmd),
		.op = IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS,
		.id = hwpt_id,
		.mock_domain_flags = { .dev_flags = MOCK_FLAGS_DEVICE_NO_DIRTY },
	};

	/* A device without dirty tracking cannot join a tracking HWPT. */
	ck_assert_int_eq(isim_ioctl(tfd, IOMMU_TEST_CMD, &cmd), -EINVAL);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("dirty");
	TCase *tc = tcase_create("dirty");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, set_tracking_errnos);
	tcase_add_test(tc, get_bitmap_errnos);
	tcase_add_test(tc, dma_write_marks_page);
	tcase_add_test(tc, tracking_off_and_reenable);
	tcase_add_test(tc, walk_stops_at_hole);
	tcase_add_test(tc, unaligned_and_readonly_bitmap);
	tcase_add_test(tc, test_op_dirty);
	tcase_add_test(tc, no_dirty_device);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
