/*
 * The simulated process's address space as the iommufd core sees it: which
 * simulated frame backs a page of program memory, and pinning (the
 * kernel's pin_user_pages and memfd_pin_folios).  Memory comes from three
 * places: regions made by isim_mem_alloc (frames allocated up front with the
 * chosen backing), ordinary program memory (adopted page by page on first
 * pin), and memfds (frames keyed by file and page index).  All calls are
 * thread-safe; lock order is vm lock, then phys lock.
 */
#ifndef ISIM_MM_VM_H
#define ISIM_MM_VM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "iommufd-sim/sim.h"
#include "sim/lib/pfn_run.h"

struct isim_phys;
struct isim_tracer;
struct isim_vm;

/* @trace may be NULL.  The vm installs itself as @phys's release hook. */
int isim_vm_create(struct isim_phys *phys, struct isim_tracer *trace,
		   struct isim_vm **out);
/* Unmaps everything and drops the vm's frame references. */
void isim_vm_destroy(struct isim_vm *vm);

/*
 * isim_mem_alloc/isim_mem_free without a machine.  Lengths round up to the
 * page size (to the folio size for hugetlb); host memory is reserved, not
 * touched.  Freeing a region whose frames are still pinned keeps those
 * frames and their host bytes until the last unpin; the VA range is dead
 * at once (pinning it fails with -EFAULT).
 */
int isim_vm_alloc(struct isim_vm *vm, size_t len, enum isim_backing backing,
		  void **out);
int isim_vm_free(struct isim_vm *vm, void *va);

/*
 * Pin @npages simulated pages from @va (page aligned) and store their PFNs.
 * All or nothing.  -EFAULT: part of the range is not mapped, not readable,
 * not writable for a @write pin, or was freed; -EINVAL: @va not aligned;
 * -ENOMEM: no frame for a page seen for the first time.  Regions from
 * isim_vm_alloc are trusted to stay mapped read-write and are pinned
 * without a system call; other memory costs one VMA check per call.
 */
int isim_vm_pin(struct isim_vm *vm, uint64_t va, size_t npages, bool write,
		uint64_t *pfns);
/*
 * isim_vm_pin that hands out the pinned frames as runs of consecutive
 * frames, in address order, into @runs (room for @npages) and their count
 * into *@nruns (0 on error).  Memory of a simulator region is pinned from
 * the region's own PFN array a run at a time; other memory goes through
 * @scratch (room for @npages PFNs).
 */
int isim_vm_pin_runs(struct isim_vm *vm, uint64_t va, size_t npages,
		     bool write, uint64_t *scratch,
		     struct isim_pfn_run *runs, size_t *nruns);
/*
 * Drop one pin of each frame.  Every pin taken with isim_vm_pin(_runs) or
 * isim_vm_pin_file must be dropped here (never with isim_phys_unpin), in
 * any grouping: what matters is that each PFN is unpinned as often as it
 * was pinned.
 */
void isim_vm_unpin(struct isim_vm *vm, const uint64_t *pfns, size_t npages);
/* The same for the contiguous run pfn .. pfn + npages - 1. */
void isim_vm_unpin_run(struct isim_vm *vm, uint64_t pfn, size_t npages);

/*
 * Pin pages of a file (memfd) from byte @offset (page aligned).  A page
 * keeps its frame while it is pinned, so two pins of the same page give the
 * same PFN.  -EBADF: bad fd; -EINVAL: not a regular file or @offset not
 * aligned; -EFAULT: a page beyond EOF, or a @write pin of a page we can
 * only map read-only (read-only fd or write seal, or its 2 MiB window of
 * the file was first mapped through such an fd while other pages of it
 * are pinned).
 */
int isim_vm_pin_file(struct isim_vm *vm, int fd, uint64_t offset,
		     size_t npages, bool write, uint64_t *pfns);

/* The frame behind @va without pinning: -ENOENT if it has none (yet). */
int isim_va_to_pfn(struct isim_vm *vm, uint64_t va, uint64_t *pfn);

/*
 * The program unmapped [va, va + len) (for the preload library): adopted
 * pages there forget their frames; pinned ones live on until unpinned.
 */
void isim_vm_forget(struct isim_vm *vm, uint64_t va, size_t len);

/*
 * Who knows the folio size of program memory: the preload library, for the
 * hugetlb memory it emulates with ordinary pages.  @fn returns the size in
 * bytes of the folio holding @va (a power of two, its start aligned to it),
 * or 0 for ordinary pages; it is called under the vm lock.  A page of a
 * larger folio is adopted with the whole folio, into physically contiguous
 * frames aligned to its size, as hugetlbfs memory is; when no free block
 * that large is left, page by page as before.
 */
typedef size_t (*isim_vm_folio_fn)(void *arg, uint64_t va);
void isim_vm_set_folio_fn(struct isim_vm *vm, isim_vm_folio_fn fn, void *arg);

struct isim_vm_stats {
	size_t regions;		/* live isim_vm_alloc regions */
	size_t dead_regions;	/* freed but with frames still pinned */
	size_t adopted;		/* program pages that have a frame */
	size_t file_pages;	/* file pages that have a frame */
};
void isim_vm_stats(struct isim_vm *vm, struct isim_vm_stats *st);

#endif
