/*
 * The simulated memory (sim/mm): buddy allocation and coalescing, poison
 * and the DMA use-after-free counter, lazy metadata on a huge machine,
 * backings, adoption of program memory, pins that outlive their region,
 * memfd pins, the seeded fragmentation pattern, fail-nth sweeps and
 * concurrent pinning.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "sim/lib/fault.h"
#include "sim/lib/pfn_run.h"
#include "sim/machine.h"
#include "sim/mm/phys.h"
#include "sim/mm/vm.h"

#define SZ_64K (64u << 10)
#define SZ_2M (2u << 20)
#define MiB (1ull << 20)
#define GiB (1ull << 30)

static struct isim_machine *machine(uint64_t mem, uint32_t ps, double frag,
				    uint64_t seed)
{
	struct isim_machine_config cfg = {
		.mem_size = mem, .page_size = ps, .frag = frag, .seed = seed,
	};
	struct isim_machine *m;

	ck_assert_int_eq(isim_machine_new(&cfg, &m), 0);
	return m;
}

static void assert_clean(struct isim_machine *m)
{
	char buf[2048] = "";
	size_t used = 0;

	ck_assert_msg(isim_phys_check(m->phys, buf, sizeof(buf), &used) == 0,
		      "%s", buf);
}

/* Frame counts, less the one frame the machine keeps from boot. */
static struct isim_phys_stats pstats(struct isim_machine *m)
{
	struct isim_phys_stats st;

	isim_phys_stats(m->phys, &st);
	if (m->firmware_pfn != UINT64_MAX)
		st.allocated--;
	return st;
}

static struct isim_vm_stats vstats(struct isim_machine *m)
{
	struct isim_vm_stats st;

	isim_vm_stats(m->vm, &st);
	return st;
}

static enum isim_frame_state frame_state(struct isim_machine *m, uint64_t pfn)
{
	struct isim_frame_info fi;

	ck_assert_int_eq(isim_phys_frame(m->phys, pfn, &fi), 0);
	return fi.state;
}

static uint64_t va_pfn(struct isim_machine *m, const void *va)
{
	uint64_t pfn;

	ck_assert_int_eq(isim_va_to_pfn(m->vm, (uint64_t)(uintptr_t)va, &pfn), 0);
	return pfn;
}

/* ------------------------------------------------------------ buddy */

START_TEST(buddy_alloc_free_coalesce)
{
	struct isim_machine *m = machine(64 * MiB, 4096, 0.0, 1);
	uint64_t a, b, c, big, x;

	/* The whole machine must coalesce: give the boot frame back. */
	isim_phys_free(m->phys, m->firmware_pfn, 0);
	m->firmware_pfn = UINT64_MAX;
	/* 64 MiB is 2^14 frames: one order-14 block once touched. */
	ck_assert_int_eq(isim_phys_alloc(m->phys, 0, &a), 0);
	ck_assert_int_eq(isim_phys_alloc(m->phys, 0, &b), 0);
	ck_assert_uint_eq(b, a + 1);
	ck_assert_int_eq(isim_phys_alloc(m->phys, 3, &c), 0);
	ck_assert_uint_eq(c % 8, 0);
	ck_assert_uint_eq(pstats(m).allocated, 10);
	assert_clean(m);
	isim_phys_free(m->phys, a, 0);
	isim_phys_free(m->phys, c, 3);
	isim_phys_free(m->phys, b, 0);
	ck_assert_uint_eq(pstats(m).allocated, 0);
	ck_assert_uint_eq(pstats(m).free_blocks[14], 1);
	ck_assert_uint_eq(pstats(m).free_listed, 1u << 14);
	assert_clean(m);

	/* The whole machine, then nothing left; an order beyond it never. */
	ck_assert_int_eq(isim_phys_alloc(m->phys, 14, &big), 0);
	ck_assert_int_eq(isim_phys_alloc(m->phys, 0, &x), -ENOMEM);
	ck_assert_int_eq(isim_phys_alloc(m->phys, 15, &x), -ENOMEM);
	/* Blocks are released frame by frame and still coalesce. */
	for (uint64_t i = 0; i < (1u << 14); i += 2)
		isim_phys_put(m->phys, big + i);
	ck_assert_uint_eq(pstats(m).free_blocks[0], 1u << 13);
	for (uint64_t i = 1; i < (1u << 14); i += 2)
		isim_phys_put(m->phys, big + i);
	ck_assert_uint_eq(pstats(m).free_blocks[0], 0);
	ck_assert_uint_eq(pstats(m).free_blocks[14], 1);
	assert_clean(m);
	isim_machine_free(m);
}
END_TEST

START_TEST(refcounts_and_pins)
{
	struct isim_machine *m = machine(64 * MiB, 4096, 0.0, 1);
	struct isim_frame_info fi;
	uint64_t p;

	ck_assert_int_eq(isim_phys_alloc(m->phys, 1, &p), 0);
	ck_assert_int_eq(isim_phys_get(m->phys, p), 0);
	ck_assert_int_eq(isim_phys_pin(m->phys, p, 2), 0);
	ck_assert_int_eq(isim_phys_frame(m->phys, p, &fi), 0);
	ck_assert_uint_eq(fi.refcount, 3);
	ck_assert_uint_eq(fi.pincount, 1);
	ck_assert_uint_eq(fi.order, 1);
	ck_assert_uint_eq(isim_phys_total_pins(m->phys), 2);
	ck_assert(!isim_phys_put(m->phys, p));
	isim_phys_free(m->phys, p, 1);
	/* Pinned frames outlive the owner's references. */
	ck_assert_int_eq(frame_state(m, p), ISIM_FRAME_ALLOCATED);
	isim_phys_unpin(m->phys, p, 2);
	ck_assert_int_eq(frame_state(m, p), ISIM_FRAME_POISONED);
	ck_assert_int_eq(frame_state(m, p + 1), ISIM_FRAME_POISONED);
	ck_assert_uint_eq(isim_phys_total_pins(m->phys), 0);
	/* Pinning a free frame fails and leaves no pin behind. */
	ck_assert_int_eq(isim_phys_pin(m->phys, p, 1), -EFAULT);
	ck_assert_int_eq(isim_phys_frame(m->phys, 1ull << 40, &fi), -ERANGE);
	assert_clean(m);
	/* A stray unpin is a bug the invariant check reports. */
	isim_phys_unpin(m->phys, p, 1);
	ck_assert_int_ne(isim_phys_check(m->phys, NULL, 0, NULL), 0);
	isim_machine_free(m);
}
END_TEST

/*
 * Runs longer than the pin code's 16-word blocks, with the break at a
 * frame in the middle: all or nothing, and frames that only pins hold
 * (their last reference dropped) are released by the last unpin, or kept
 * by a reference taken again before it.
 */
START_TEST(long_runs_and_orphans)
{
	struct isim_machine *m = machine(64 * MiB, 4096, 0.0, 1);
	struct isim_frame_info fi;
	uint64_t p, pfns[63];

	ck_assert_int_eq(isim_phys_alloc(m->phys, 6, &p), 0);
	ck_assert(isim_phys_put(m->phys, p + 40));
	ck_assert_int_eq(isim_phys_pin(m->phys, p, 64), -EFAULT);
	ck_assert_uint_eq(pstats(m).total_pins, 0);
	ck_assert_uint_eq(pstats(m).pinned_frames, 0);
	ck_assert_int_eq(isim_phys_pin(m->phys, p, 40), 0);
	ck_assert_int_eq(isim_phys_pin(m->phys, p, 40), 0);
	ck_assert_uint_eq(pstats(m).pinned_frames, 40);
	for (unsigned i = 0; i < 63; i++)
		pfns[i] = p + i + (i >= 40);
	ck_assert_int_eq(isim_phys_pin_pfns(m->phys, pfns, 63), 0);
	ck_assert_uint_eq(pstats(m).pinned_frames, 63);
	ck_assert_uint_eq(pstats(m).total_pins, 143);
	ck_assert_int_eq(isim_phys_frame(m->phys, p + 39, &fi), 0);
	ck_assert_uint_eq(fi.pincount, 3);
	ck_assert_uint_eq(fi.refcount, 4);
	assert_clean(m);

	/* Every plain reference goes: pins alone hold the frames. */
	for (unsigned i = 0; i < 63; i++)
		ck_assert(!isim_phys_put(m->phys, pfns[i]));
	ck_assert_uint_eq(pstats(m).allocated, 63);
	assert_clean(m);
	ck_assert_int_eq(isim_phys_get(m->phys, p + 1), 0);
	isim_phys_unpin(m->phys, p, 40);
	isim_phys_unpin(m->phys, p, 40);
	isim_phys_unpin_pfns(m->phys, pfns, 63);
	ck_assert_uint_eq(pstats(m).total_pins, 0);
	ck_assert_uint_eq(pstats(m).allocated, 1);
	ck_assert_int_eq(frame_state(m, p), ISIM_FRAME_POISONED);
	ck_assert_int_eq(frame_state(m, p + 63), ISIM_FRAME_POISONED);
	ck_assert_int_eq(frame_state(m, p + 1), ISIM_FRAME_ALLOCATED);
	assert_clean(m);
	ck_assert(isim_phys_put(m->phys, p + 1));
	ck_assert_uint_eq(pstats(m).allocated, 0);
	assert_clean(m);
	isim_machine_free(m);
}
END_TEST

START_TEST(poison_and_bad_dma)
{
	struct isim_machine *m = machine(64 * MiB, 4096, 0.0, 1);
	static char page[2 * 4096];
	char buf[64];
	uint64_t p;

	ck_assert_int_eq(isim_phys_alloc(m->phys, 1, &p), 0);
	ck_assert_int_eq(isim_phys_set_host_run(m->phys, p, 2, page,
						ISIM_HOST_DIRECT, 0), 0);
	/* An access that crosses the page boundary. */
	ck_assert_int_eq(isim_pa_write(m->phys, (p << 12) + 4090, "0123456789", 10),
			 0);
	ck_assert_int_eq(memcmp(page + 4090, "0123456789", 10), 0);
	ck_assert_int_eq(isim_pa_read(m->phys, (p << 12) + 4090, buf, 10), 0);
	ck_assert_int_eq(memcmp(buf, "0123456789", 10), 0);
	ck_assert_uint_eq(isim_phys_bad_dma(m->phys), 0);

	isim_phys_free(m->phys, p, 1);
	ck_assert_int_eq(frame_state(m, p), ISIM_FRAME_POISONED);
	ck_assert_int_eq(isim_pa_read(m->phys, p << 12, buf, 8), -EFAULT);
	ck_assert_uint_eq(isim_phys_bad_dma(m->phys), 1);
	ck_assert_int_eq(isim_pa_write(m->phys, (p + 1) << 12, buf, 8), -EFAULT);
	ck_assert_uint_eq(isim_phys_bad_dma(m->phys), 2);
	/* Never allocated, and beyond the end of memory. */
	ck_assert_int_eq(frame_state(m, 1000), ISIM_FRAME_FREE);
	ck_assert_int_eq(isim_pa_read(m->phys, 1000 << 12, buf, 8), -EFAULT);
	ck_assert_int_eq(isim_pa_read(m->phys, 64 * MiB - 4, buf, 8), -EFAULT);
	ck_assert_uint_eq(isim_phys_bad_dma(m->phys), 4);
	assert_clean(m);
	isim_machine_free(m);
}
END_TEST

/* ----------------------------------------------------- lazy metadata */

static size_t resident_bytes(void)
{
	unsigned long size, resident;
	FILE *f = fopen("/proc/self/statm", "r");

	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fscanf(f, "%lu %lu", &size, &resident), 2);
	fclose(f);
	return resident * (size_t)sysconf(_SC_PAGESIZE);
}

START_TEST(lazy_metadata_1tib)
{
	struct isim_machine *m;
	size_t before, after;
	void *va;

	before = resident_bytes();
	m = machine(1ull << 40, 4096, 0.0, 1);
	ck_assert_int_eq(isim_mem_alloc(m, GiB, ISIM_BACKING_4K, &va), 0);
	after = resident_bytes();
	ck_assert_msg(after - before < 100 * MiB, "grew by %zu MiB",
		      (after - before) >> 20);
	ck_assert_uint_eq(pstats(m).allocated, GiB >> 12);
	ck_assert_uint_le(pstats(m).touched_blocks, 2);
	ck_assert_int_eq(isim_mem_free(m, va), 0);
	ck_assert_uint_eq(pstats(m).allocated, 0);
	assert_clean(m);
	isim_machine_free(m);
}
END_TEST

/* ---------------------------------------------------------- backings */

static bool run_contiguous(struct isim_machine *m, const char *va, size_t len)
{
	uint32_t ps = isim_machine_page_size(m);
	uint64_t first = va_pfn(m, va);

	for (size_t off = ps; off < len; off += ps)
		if (va_pfn(m, va + off) != first + off / ps)
			return false;
	return true;
}

START_TEST(thp_runs_contiguous)
{
	struct isim_machine *m = machine(4 * GiB, 4096, 0.0, 7);
	char *va;

	ck_assert_int_eq(isim_mem_alloc(m, 64 * MiB + 12288, ISIM_BACKING_THP,
					(void **)&va), 0);
	ck_assert_uint_eq((uintptr_t)va % SZ_2M, 0);
	for (size_t off = 0; off < 64 * MiB; off += SZ_2M) {
		ck_assert(run_contiguous(m, va + off, SZ_2M));
		ck_assert_uint_eq(va_pfn(m, va + off) % 512, 0);
	}
	ck_assert_int_eq(isim_mem_free(m, va), 0);
	assert_clean(m);
	isim_machine_free(m);
}
END_TEST

START_TEST(hugetlb_whole_folios)
{
	struct isim_machine *m = machine(4 * GiB, 4096, 0.0, 7);
	struct isim_machine *small = machine(512 * MiB, 4096, 0.0, 7);
	char *va, *g;
	void *x;

	/* Lengths round up to whole folios. */
	ck_assert_int_eq(isim_mem_alloc(m, 3 * MiB, ISIM_BACKING_HUGETLB_2M,
					(void **)&va), 0);
	ck_assert(run_contiguous(m, va, SZ_2M));
	ck_assert(run_contiguous(m, va + SZ_2M, SZ_2M));
	ck_assert_uint_eq(va_pfn(m, va + SZ_2M) % 512, 0);
	ck_assert_uint_eq(pstats(m).allocated, 1024);
	ck_assert_int_eq(isim_mem_alloc(m, GiB, ISIM_BACKING_HUGETLB_1G,
					(void **)&g), 0);
	ck_assert_uint_eq((uintptr_t)g % GiB, 0);
	ck_assert_uint_eq(va_pfn(m, g) % (1u << 18), 0);
	ck_assert(run_contiguous(m, g, GiB));
	ck_assert_int_eq(isim_mem_free(m, g), 0);
	ck_assert_int_eq(isim_mem_free(m, va), 0);
	ck_assert_int_eq(isim_mem_free(m, va), -EINVAL);

	ck_assert_int_eq(isim_mem_alloc(small, GiB, ISIM_BACKING_HUGETLB_1G, &x),
			 -ENOMEM);
	ck_assert_uint_eq(pstats(small).allocated, 0);
	assert_clean(m);
	assert_clean(small);
	isim_machine_free(small);
	isim_machine_free(m);
}
END_TEST

START_TEST(fragmented_fallbacks)
{
	struct isim_machine *m = machine(1 * GiB, 4096, 1.0, 3);
	char *va;
	void *x;

	/* No order-9 block at frag 1: THP falls back, hugetlb cannot. */
	ck_assert_int_eq(isim_mem_alloc(m, 4 * MiB, ISIM_BACKING_THP,
					(void **)&va), 0);
	ck_assert(!run_contiguous(m, va, SZ_2M));
	ck_assert_int_eq(isim_mem_alloc(m, SZ_2M, ISIM_BACKING_HUGETLB_2M, &x),
			 -ENOMEM);
	/* Half of the memory belongs to someone else. */
	ck_assert_uint_eq(pstats(m).foreign, (GiB >> 12) / 2);
	ck_assert_int_eq(isim_mem_free(m, va), 0);
	assert_clean(m);
	isim_machine_free(m);
}
END_TEST

START_TEST(other_page_sizes)
{
	static const uint32_t sizes[] = { 16384, 65536 };

	for (unsigned i = 0; i < 2; i++) {
		struct isim_machine *m = machine(4 * GiB, sizes[i], 0.0, 1);
		uint64_t pfns[16];
		char *va, *t;

		ck_assert_int_eq(isim_mem_alloc(m, 1, ISIM_BACKING_4K,
						(void **)&va), 0);
		ck_assert_uint_eq((uintptr_t)va % sizes[i], 0);
		ck_assert_int_eq(isim_vm_pin(m->vm, (uintptr_t)va + 4096, 1,
					     true, pfns), -EINVAL);
		ck_assert_int_eq(isim_vm_pin(m->vm, (uintptr_t)va, 1, true,
					     pfns), 0);
		isim_vm_unpin(m->vm, pfns, 1);
		ck_assert_int_eq(isim_mem_alloc(m, 4 * MiB, ISIM_BACKING_THP,
						(void **)&t), 0);
		ck_assert(run_contiguous(m, t, SZ_2M));
		ck_assert_uint_eq(va_pfn(m, t) % (SZ_2M / sizes[i]), 0);
		ck_assert_int_eq(isim_mem_free(m, t), 0);
		ck_assert_int_eq(isim_mem_free(m, va), 0);
		assert_clean(m);
		isim_machine_free(m);
	}
}
END_TEST

/* ---------------------------------------------------------- adoption */

START_TEST(adopt_program_memory)
{
	struct isim_machine *m = machine(4 * GiB, 4096, 0.0, 1);
	uint64_t p1[4], p2[4];
	struct isim_frame_info fi;
	char *buf = aligned_alloc(4096, 4 * 4096);
	char out[8];

	memset(buf, 0, 4 * 4096);
	strcpy(buf + 4096 + 100, "adopted");
	ck_assert_int_eq(isim_va_to_pfn(m->vm, (uintptr_t)buf, &p1[0]), -ENOENT);
	ck_assert_int_eq(isim_vm_pin(m->vm, (uintptr_t)buf, 4, true, p1), 0);
	ck_assert_int_eq(isim_vm_pin(m->vm, (uintptr_t)buf, 4, false, p2), 0);
	ck_assert_mem_eq(p1, p2, sizeof(p1));
	ck_assert_uint_eq(va_pfn(m, buf + 4096 + 5), p1[1]);
	ck_assert_int_eq(isim_phys_frame(m->phys, p1[1], &fi), 0);
	ck_assert_ptr_eq(fi.host, buf + 4096);
	ck_assert_uint_eq(fi.pincount, 2);
	ck_assert_int_eq(isim_pa_read(m->phys, (p1[1] << 12) + 100, out, 8), 0);
	ck_assert_str_eq(out, "adopted");
	ck_assert_int_eq(isim_pa_write(m->phys, p1[2] << 12, "dma", 4), 0);
	ck_assert_str_eq(buf + 2 * 4096, "dma");
	isim_vm_unpin(m->vm, p1, 4);
	isim_vm_unpin(m->vm, p2, 4);
	ck_assert_uint_eq(isim_phys_total_pins(m->phys), 0);

	/* The VA keeps its frame while it lives, pinned or not. */
	ck_assert_uint_eq(vstats(m).adopted, 4);
	ck_assert_int_eq(isim_vm_pin(m->vm, (uintptr_t)buf + 4096, 1, true, p2), 0);
	ck_assert_uint_eq(p2[0], p1[1]);
	isim_vm_unpin_run(m->vm, p2[0], 1);
	isim_vm_forget(m->vm, (uintptr_t)buf, 4 * 4096);
	ck_assert_uint_eq(vstats(m).adopted, 0);
	ck_assert_uint_eq(pstats(m).allocated, 0);
	free(buf);
	assert_clean(m);
	isim_machine_free(m);
}
END_TEST

/* Runs out of a pin are the pinned PFNs compressed, region or not. */
START_TEST(pin_runs_match_pfns)
{
	struct isim_machine *m = machine(4 * GiB, 4096, 0.5, 3);
	size_t n = 300, nruns, total = 0;
	uint64_t *pfns = calloc(n, sizeof(*pfns)), *scratch = calloc(n, 8);
	struct isim_pfn_run *runs = calloc(n, sizeof(*runs));
	char *adopted = aligned_alloc(4096, n * 4096);
	void *va;

	memset(adopted, 1, n * 4096);
	ck_assert_int_eq(isim_mem_alloc(m, n * 4096, ISIM_BACKING_4K, &va), 0);
	for (int k = 0; k < 2; k++) {
		uint64_t at = k ? (uintptr_t)adopted : (uintptr_t)va;

		ck_assert_int_eq(isim_vm_pin(m->vm, at, n, true, pfns), 0);
		ck_assert_int_eq(isim_vm_pin_runs(m->vm, at, n, true, scratch,
						  runs, &nruns), 0);
		ck_assert_uint_eq(nruns, isim_pfns_to_runs(pfns, n, NULL, 0));
		ck_assert_uint_gt(nruns, k ? 0 : 1);
		total = 0;
		for (size_t r = 0; r < nruns; r++)
			for (uint64_t j = 0; j < runs[r].npages; j++)
				ck_assert_uint_eq(pfns[total++],
						  runs[r].pfn + j);
		ck_assert_uint_eq(total, n);
		isim_vm_unpin(m->vm, pfns, n);
		isim_vm_unpin(m->vm, pfns, n);
	}
	ck_assert_int_eq(isim_vm_pin_runs(m->vm, (uintptr_t)va + 1, 1, true,
					  scratch, runs, &nruns), -EINVAL);
	ck_assert_uint_eq(nruns, 0);
	ck_assert_uint_eq(isim_phys_total_pins(m->phys), 0);
	ck_assert_int_eq(isim_mem_free(m, va), 0);
	isim_vm_forget(m->vm, (uintptr_t)adopted, n * 4096);
	assert_clean(m);
	free(adopted);
	free(runs);
	free(scratch);
	free(pfns);
	isim_machine_free(m);
}
END_TEST

/* A folio oracle as the preload library gives one: 2 MiB folios in a range. */
struct folio_range {
	uint64_t start, end;
};

static size_t folio_of(void *arg, uint64_t va)
{
	const struct folio_range *r = arg;

	return va >= r->start && va < r->end ? SZ_2M : 0;
}

/*
 * Memory the oracle calls 2 MiB folios (emulated hugetlb) is adopted a
 * folio at a time into one aligned block; with no block that large free
 * (a fully fragmented machine) page by page.
 */
START_TEST(adopt_hugetlb_folios)
{
	double frags[] = { 0.0, 1.0 };

	for (unsigned k = 0; k < 2; k++) {
		struct isim_machine *m = machine(4 * GiB, 4096, frags[k], 1);
		char *raw = mmap(NULL, 3 * SZ_2M, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		char *va = (char *)(((uintptr_t)raw + SZ_2M - 1) &
				    ~(uintptr_t)(SZ_2M - 1));
		struct folio_range r = { (uintptr_t)va, (uintptr_t)va + SZ_2M };
		uint64_t *pfns = calloc(512, sizeof(*pfns)), p, q;

		ck_assert_ptr_ne(raw, MAP_FAILED);
		isim_vm_set_folio_fn(m->vm, folio_of, &r);
		ck_assert_int_eq(isim_vm_pin(m->vm, (uintptr_t)va + 3 * 4096,
					     1, true, &p), 0);
		ck_assert_uint_eq(vstats(m).adopted, k ? 1 : 512);
		ck_assert_int_eq(isim_vm_pin(m->vm, (uintptr_t)va, 512, true,
					     pfns), 0);
		ck_assert_uint_eq(pfns[3], p);
		if (!k) {
			ck_assert_uint_eq(pfns[0] % 512, 0);
			ck_assert_uint_eq(isim_pfn_run_len(pfns, 512), 512);
		}
		/* Past the folio range, pages are adopted one by one. */
		ck_assert_int_eq(isim_vm_pin(m->vm, (uintptr_t)va + SZ_2M, 1,
					     true, &q), 0);
		ck_assert_uint_eq(vstats(m).adopted, 513);
		isim_vm_unpin(m->vm, &q, 1);
		isim_vm_unpin(m->vm, pfns, 512);
		isim_vm_unpin(m->vm, &p, 1);
		ck_assert_uint_eq(isim_phys_total_pins(m->phys), 0);
		isim_vm_forget(m->vm, (uintptr_t)raw, 3 * SZ_2M);
		ck_assert_uint_eq(vstats(m).adopted, 0);
		ck_assert_uint_eq(pstats(m).allocated, 0);
		assert_clean(m);
		munmap(raw, 3 * SZ_2M);
		free(pfns);
		isim_machine_free(m);
	}
}
END_TEST

START_TEST(bad_program_memory)
{
	struct isim_machine *m = machine(4 * GiB, 4096, 0.0, 1);
	char *ro, *none, *gap;
	uint64_t pfns[4];

	gap = mmap(NULL, 4 * 4096, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(gap, MAP_FAILED);
	/* A hole in the middle: nothing of the range may stay pinned. */
	munmap(gap + 2 * 4096, 4096);
	ck_assert_int_eq(isim_vm_pin(m->vm, (uintptr_t)gap, 4, false, pfns),
			 -EFAULT);
	ck_assert_int_eq(isim_vm_pin(m->vm, (uintptr_t)gap + 2 * 4096, 1,
				     false, pfns), -EFAULT);
	ck_assert_uint_eq(isim_phys_total_pins(m->phys), 0);
	ck_assert_uint_eq(vstats(m).adopted, 0);
	ck_assert_int_eq(isim_vm_pin(m->vm, (uintptr_t)gap, 2, true, pfns), 0);
	isim_vm_unpin(m->vm, pfns, 2);

	ro = mmap(NULL, 2 * 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(ro, MAP_FAILED);
	ck_assert_int_eq(isim_vm_pin(m->vm, (uintptr_t)ro, 2, true, pfns),
			 -EFAULT);
	ck_assert_int_eq(isim_vm_pin(m->vm, (uintptr_t)ro, 2, false, pfns), 0);
	isim_vm_unpin(m->vm, pfns, 2);
	none = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert_int_eq(isim_vm_pin(m->vm, (uintptr_t)none, 1, false, pfns),
			 -EFAULT);
	ck_assert_int_eq(isim_vm_pin(m->vm, (uintptr_t)ro + 1, 1, false, pfns),
			 -EINVAL);
	ck_assert_int_eq(isim_vm_pin(m->vm, UINT64_MAX & ~4095ull, 2, false,
				     pfns), -EFAULT);
	ck_assert_uint_eq(isim_phys_total_pins(m->phys), 0);
	munmap(none, 4096);
	munmap(ro, 2 * 4096);
	munmap(gap, 2 * 4096);
	munmap(gap + 3 * 4096, 4096);
	assert_clean(m);
	isim_machine_free(m);
}
END_TEST

/* Regions pin without adoption; pins stack; unpin order is free. */
START_TEST(region_pins)
{
	struct isim_machine *m = machine(4 * GiB, 4096, 0.0, 1);
	uint64_t whole[16], part[4];
	struct isim_frame_info fi;
	char *a;

	ck_assert_int_eq(isim_mem_alloc(m, 16 * 4096, ISIM_BACKING_4K,
					(void **)&a), 0);
	ck_assert_int_eq(isim_vm_pin(m->vm, (uintptr_t)a, 16, true, whole), 0);
	ck_assert_int_eq(isim_vm_pin(m->vm, (uintptr_t)a + 6 * 4096, 4, false,
				     part), 0);
	for (int i = 0; i < 16; i++)
		ck_assert_uint_eq(whole[i], va_pfn(m, a + i * 4096));
	ck_assert_mem_eq(part, whole + 6, sizeof(part));
	ck_assert_int_eq(isim_phys_frame(m->phys, whole[7], &fi), 0);
	ck_assert_uint_eq(fi.pincount, 2);
	ck_assert_uint_eq(fi.refcount, 3);
	ck_assert(fi.host_flags & ISIM_HOST_DIRECT);
	ck_assert_ptr_eq(fi.host, a + 7 * 4096);
	ck_assert_uint_eq(vstats(m).adopted, 0);
	/* With frag 0 the region is one run: unpin it as one. */
	isim_vm_unpin_run(m->vm, whole[0], 16);
	isim_vm_unpin(m->vm, part, 4);
	ck_assert_uint_eq(isim_phys_total_pins(m->phys), 0);
	ck_assert_int_eq(isim_mem_free(m, a), 0);
	assert_clean(m);
	isim_machine_free(m);
}
END_TEST

/* --------------------------------------- pinned frames outlive regions */

START_TEST(pinned_survive_free)
{
	struct isim_machine *m = machine(4 * GiB, 4096, 0.0, 1);
	uint64_t pfns[2], all[8];
	char *va, out[16];

	ck_assert_int_eq(isim_mem_alloc(m, 8 * 4096, ISIM_BACKING_4K,
					(void **)&va), 0);
	for (int i = 0; i < 8; i++)
		snprintf(va + i * 4096, 16, "page %d", i);
	for (int i = 0; i < 8; i++)
		all[i] = va_pfn(m, va + i * 4096);
	ck_assert_int_eq(isim_vm_pin(m->vm, (uintptr_t)va + 2 * 4096, 2, false,
				     pfns), 0);
	ck_assert_int_eq(isim_mem_free(m, va), 0);
	ck_assert_uint_eq(vstats(m).dead_regions, 1);
	ck_assert_uint_eq(pstats(m).allocated, 2);

	/* The VA is gone for pinning; the pinned bytes are still there. */
	ck_assert_int_eq(isim_vm_pin(m->vm, (uintptr_t)va + 2 * 4096, 1, false,
				     all), -EFAULT);
	ck_assert_int_eq(isim_va_to_pfn(m->vm, (uintptr_t)va, &all[0]), -ENOENT);
	ck_assert_int_eq(isim_pa_read(m->phys, pfns[1] << 12, out, 16), 0);
	ck_assert_str_eq(out, "page 3");
	ck_assert_int_eq(isim_pa_read(m->phys, all[0] << 12, out, 1), -EFAULT);
	ck_assert_int_eq(isim_pa_read(m->phys, all[4] << 12, out, 16), -EFAULT);
	ck_assert_int_eq(frame_state(m, all[4]), ISIM_FRAME_POISONED);
	assert_clean(m);

	isim_vm_unpin(m->vm, pfns, 1);
	ck_assert_uint_eq(vstats(m).dead_regions, 1);
	ck_assert_int_eq(isim_pa_read(m->phys, pfns[1] << 12, out, 16), 0);
	isim_vm_unpin_run(m->vm, pfns[1], 1);
	ck_assert_uint_eq(vstats(m).dead_regions, 0);
	ck_assert_int_eq(isim_pa_read(m->phys, pfns[1] << 12, out, 16), -EFAULT);
	ck_assert_int_eq(frame_state(m, pfns[1]), ISIM_FRAME_POISONED);
	ck_assert_uint_eq(pstats(m).allocated, 0);
	assert_clean(m);
	isim_machine_free(m);
}
END_TEST

/* ------------------------------------------------------------- memfd */

START_TEST(memfd_pin)
{
	struct isim_machine *m = machine(4 * GiB, 4096, 0.0, 1);
	uint64_t p1[3], p2[3];
	int fd, rofd, pipes[2];
	char path[64], out[8];

	fd = memfd_create("isim-test", 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, 4 * 4096), 0);
	ck_assert_int_eq(pwrite(fd, "file", 5, 4096 + 8), 5);
	ck_assert_int_eq(isim_vm_pin_file(m->vm, fd, 4096, 2, true, p1), 0);
	ck_assert_int_eq(isim_pa_read(m->phys, (p1[0] << 12) + 8, out, 5), 0);
	ck_assert_str_eq(out, "file");
	ck_assert_int_eq(isim_pa_write(m->phys, p1[1] << 12, "dev", 4), 0);
	ck_assert_int_eq(pread(fd, out, 4, 2 * 4096), 4);
	ck_assert_str_eq(out, "dev");
	/* Same page, same frame, whichever fd reaches it. */
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	rofd = open(path, O_RDONLY);
	ck_assert_int_ge(rofd, 0);
	ck_assert_int_eq(isim_vm_pin_file(m->vm, rofd, 0, 3, false, p2), 0);
	ck_assert_uint_eq(p2[1], p1[0]);
	ck_assert_uint_eq(p2[2], p1[1]);
	ck_assert_uint_eq(vstats(m).file_pages, 3);
	ck_assert_int_eq(isim_vm_pin_file(m->vm, rofd, 0, 1, true, p2), -EFAULT);

	ck_assert_int_eq(isim_vm_pin_file(m->vm, -1, 0, 1, false, p2), -EBADF);
	ck_assert_int_eq(pipe(pipes), 0);
	ck_assert_int_eq(isim_vm_pin_file(m->vm, pipes[0], 0, 1, false, p2),
			 -EINVAL);
	ck_assert_int_eq(isim_vm_pin_file(m->vm, fd, 100, 1, false, p2), -EINVAL);
	ck_assert_int_eq(isim_vm_pin_file(m->vm, fd, 3 * 4096, 2, false, p2),
			 -EFAULT);
	ck_assert_int_eq(isim_vm_pin_file(m->vm, fd, 4 * 4096, 1, false, p2),
			 -EFAULT);

	/* Frames of file pages live while pinned. */
	isim_vm_unpin(m->vm, p1, 2);
	ck_assert_uint_eq(vstats(m).file_pages, 3);
	ck_assert_int_eq(isim_vm_pin_file(m->vm, rofd, 0, 3, false, p1), 0);
	ck_assert_mem_eq(p1, p2, sizeof(p2));
	isim_vm_unpin(m->vm, p1, 3);
	isim_vm_unpin(m->vm, p2, 3);
	ck_assert_uint_eq(vstats(m).file_pages, 0);
	ck_assert_uint_eq(pstats(m).allocated, 0);
	ck_assert_int_eq(isim_pa_read(m->phys, p1[1] << 12, out, 1), -EFAULT);
	close(pipes[0]);
	close(pipes[1]);
	close(rofd);
	close(fd);
	assert_clean(m);
	isim_machine_free(m);
}
END_TEST

/* A file window first mapped through a read-only fd stays read-only. */
START_TEST(memfd_readonly_window)
{
	struct isim_machine *m = machine(4 * GiB, 4096, 0.0, 1);
	uint64_t ro, rw;
	char path[64];
	int fd, rofd;

	fd = memfd_create("isim-ro", 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, 4 * 4096), 0);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	rofd = open(path, O_RDONLY);
	ck_assert_int_ge(rofd, 0);
	ck_assert_int_eq(isim_vm_pin_file(m->vm, rofd, 0, 1, false, &ro), 0);
	ck_assert_int_eq(isim_pa_write(m->phys, ro << 12, "x", 1), -EFAULT);
	ck_assert_int_eq(isim_vm_pin_file(m->vm, fd, 4096, 1, true, &rw),
			 -EFAULT);
	ck_assert_uint_eq(vstats(m).file_pages, 1);
	ck_assert_uint_eq(pstats(m).allocated, 1);
	isim_vm_unpin(m->vm, &ro, 1);
	ck_assert_uint_eq(vstats(m).file_pages, 0);
	/* Once that window is gone, a read-write fd maps it afresh. */
	ck_assert_int_eq(isim_vm_pin_file(m->vm, fd, 4096, 1, true, &rw), 0);
	ck_assert_int_eq(isim_pa_write(m->phys, rw << 12, "y", 1), 0);
	isim_vm_unpin(m->vm, &rw, 1);
	ck_assert_uint_eq(pstats(m).allocated, 0);
	close(rofd);
	close(fd);
	assert_clean(m);
	isim_machine_free(m);
}
END_TEST

/* ---------------------------------------------------- fragmentation */

/* Fraction of the 64 KiB pieces of a fresh 4K region that are contiguous. */
static double contiguous_64k(double frag, uint64_t seed)
{
	struct isim_machine *m = machine(4 * GiB, 4096, frag, seed);
	size_t len = 32 * MiB, pieces = 0, good = 0;
	char *va;

	ck_assert_int_eq(isim_mem_alloc(m, len, ISIM_BACKING_4K, (void **)&va),
			 0);
	for (size_t off = 0; off < len; off += SZ_64K, pieces++)
		good += run_contiguous(m, va + off, SZ_64K);
	assert_clean(m);
	isim_machine_free(m);
	return (double)good / (double)pieces;
}

/* Fraction of the 2 MiB pieces of a 1 GiB THP region that got a folio. */
static double thp_folios(double frag, uint64_t seed)
{
	struct isim_machine *m = machine(4 * GiB, 4096, frag, seed);
	size_t pieces = 0, good = 0;
	char *va;

	ck_assert_int_eq(isim_mem_alloc(m, GiB, ISIM_BACKING_THP, (void **)&va),
			 0);
	for (size_t off = 0; off < GiB; off += SZ_2M, pieces++)
		good += va_pfn(m, va + off) % 512 == 0 &&
			run_contiguous(m, va + off, SZ_2M);
	assert_clean(m);
	isim_machine_free(m);
	return (double)good / (double)pieces;
}

START_TEST(fragmentation_levels)
{
	double c0 = contiguous_64k(0.0, 11), c1 = contiguous_64k(1.0, 11);
	double t0 = thp_folios(0.0, 10), t9 = thp_folios(0.9, 10);
	double t1 = thp_folios(1.0, 10);

	ck_assert_msg(c0 == 1.0, "64K runs at frag 0: %f", c0);
	ck_assert_msg(c1 < 0.05, "64K runs at frag 1: %f", c1);
	/* Order-0 pieces are used first: scattered even at frag 0.9. */
	ck_assert_msg(contiguous_64k(0.9, 11) < 0.05, "64K runs at frag 0.9");
	ck_assert_msg(t0 == 1.0, "THP folios at frag 0: %f", t0);
	ck_assert_msg(t9 > 0.05 && t9 < 0.95, "THP folios at frag 0.9: %f", t9);
	ck_assert_msg(t1 == 0.0, "THP folios at frag 1: %f", t1);
}
END_TEST

static void region_pfns(double frag, uint64_t seed, uint64_t *pfns, size_t n)
{
	struct isim_machine *m = machine(4 * GiB, 4096, frag, seed);
	char *va;

	ck_assert_int_eq(isim_mem_alloc(m, n * 4096, ISIM_BACKING_THP,
					(void **)&va), 0);
	for (size_t i = 0; i < n; i++)
		pfns[i] = va_pfn(m, va + i * 4096);
	isim_machine_free(m);
}

START_TEST(same_seed_same_pfns)
{
	enum { N = 4096 };
	static uint64_t a[N], b[N], c[N];

	region_pfns(0.7, 42, a, N);
	region_pfns(0.7, 42, b, N);
	region_pfns(0.7, 43, c, N);
	ck_assert_mem_eq(a, b, sizeof(a));
	ck_assert(memcmp(a, c, sizeof(a)) != 0);
}
END_TEST

/* ----------------------------------------------------------- fail-nth */

START_TEST(fail_nth_sweep)
{
	struct isim_machine *m = machine(256 * MiB, 4096, 0.3, 5);
	char *prog = aligned_alloc(4096, 8 * 4096);
	uint64_t pfns[8], fpfns[4];
	unsigned n;
	int fd;

	fd = memfd_create("isim-sweep", 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, 4 * 4096), 0);
	memset(prog, 1, 8 * 4096);
	for (n = 1; n < 1000; n++) {
		unsigned long injected = isim_fail_injected();
		void *va = NULL;
		int rc;

		isim_fail_nth_set(n);
		rc = isim_mem_alloc(m, 4 * MiB + 8192, ISIM_BACKING_THP, &va);
		if (!rc) {
			rc = isim_vm_pin(m->vm, (uintptr_t)va + SZ_2M, 8, true,
					 pfns);
			if (!rc)
				isim_vm_unpin(m->vm, pfns, 8);
		}
		if (!rc) {
			rc = isim_vm_pin(m->vm, (uintptr_t)prog, 8, true, pfns);
			if (!rc)
				isim_vm_unpin(m->vm, pfns, 8);
		}
		if (!rc) {
			rc = isim_vm_pin_file(m->vm, fd, 0, 4, true, fpfns);
			if (!rc)
				isim_vm_unpin(m->vm, fpfns, 4);
		}
		isim_fail_nth_set(0);
		if (va)
			ck_assert_int_eq(isim_mem_free(m, va), 0);
		isim_vm_forget(m->vm, (uintptr_t)prog, 8 * 4096);
		ck_assert_uint_eq(pstats(m).allocated, 0);
		ck_assert_uint_eq(pstats(m).total_pins, 0);
		ck_assert_uint_eq(vstats(m).file_pages, 0);
		ck_assert_uint_eq(vstats(m).regions, 0);
		assert_clean(m);
		if (isim_fail_injected() == injected) {
			ck_assert_int_eq(rc, 0);
			break;
		}
		/* THP absorbs a failed folio allocation by falling back. */
		ck_assert(rc == 0 || rc == -ENOMEM);
	}
	ck_assert_uint_gt(n, 5);
	ck_assert_uint_lt(n, 1000);
	close(fd);
	free(prog);
	isim_machine_free(m);
}
END_TEST

/* ------------------------------------------------------- concurrency */

struct pin_job {
	struct isim_machine *m;
	char *region, *prog;
	unsigned seed;
};

static void *pin_worker(void *arg)
{
	struct pin_job *job = arg;
	uint64_t pfns[16];

	for (int i = 0; i < 2000; i++) {
		char *base = rand_r(&job->seed) & 1 ? job->region : job->prog;
		size_t first = (size_t)rand_r(&job->seed) % 16;
		size_t n = 1 + (size_t)rand_r(&job->seed) % (16 - first);
		char out[4];

		if (isim_vm_pin(job->m->vm, (uintptr_t)base + first * 4096, n,
				true, pfns))
			return (void *)1;
		if (isim_pa_read(job->m->phys, pfns[0] << 12, out, 4))
			return (void *)2;
		isim_vm_unpin(job->m->vm, pfns, n);
	}
	return NULL;
}

START_TEST(concurrent_pins)
{
	struct isim_machine *m = machine(4 * GiB, 4096, 0.2, 9);
	struct pin_job jobs[4];
	pthread_t th[4];
	char *region, *prog = aligned_alloc(4096, 16 * 4096);

	memset(prog, 0, 16 * 4096);
	ck_assert_int_eq(isim_mem_alloc(m, 16 * 4096, ISIM_BACKING_4K,
					(void **)&region), 0);
	for (unsigned i = 0; i < 4; i++) {
		jobs[i] = (struct pin_job){ m, region, prog, i + 1 };
		ck_assert_int_eq(pthread_create(&th[i], NULL, pin_worker,
						&jobs[i]), 0);
	}
	for (unsigned i = 0; i < 4; i++) {
		void *ret;

		pthread_join(th[i], &ret);
		ck_assert_ptr_null(ret);
	}
	ck_assert_uint_eq(isim_phys_total_pins(m->phys), 0);
	ck_assert_uint_eq(vstats(m).adopted, 16);
	assert_clean(m);
	ck_assert_int_eq(isim_mem_free(m, region), 0);
	isim_machine_free(m);
	free(prog);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("mm");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, buddy_alloc_free_coalesce);
	tcase_add_test(tc, refcounts_and_pins);
	tcase_add_test(tc, long_runs_and_orphans);
	tcase_add_test(tc, poison_and_bad_dma);
	tcase_add_test(tc, lazy_metadata_1tib);
	tcase_add_test(tc, thp_runs_contiguous);
	tcase_add_test(tc, hugetlb_whole_folios);
	tcase_add_test(tc, fragmented_fallbacks);
	tcase_add_test(tc, other_page_sizes);
	tcase_add_test(tc, adopt_program_memory);
	tcase_add_test(tc, adopt_hugetlb_folios);
	tcase_add_test(tc, pin_runs_match_pfns);
	tcase_add_test(tc, bad_program_memory);
	tcase_add_test(tc, region_pins);
	tcase_add_test(tc, pinned_survive_free);
	tcase_add_test(tc, memfd_pin);
	tcase_add_test(tc, memfd_readonly_window);
	tcase_add_test(tc, fragmentation_levels);
	tcase_add_test(tc, same_seed_same_pfns);
	tcase_add_test(tc, fail_nth_sweep);
	tcase_add_test(tc, concurrent_pins);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
