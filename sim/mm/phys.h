/*
 * Simulated physical memory: frame numbers (PFNs) handed out by a buddy
 * allocator over the machine's mem_size, in units of the simulated
 * PAGE_SIZE.  Each frame has a refcount, a pin count, a state and the host
 * address where its bytes live.  Metadata is made lazily, one 1 GiB block at
 * a time, the first time the allocator needs memory from that block, so a
 * huge machine that uses little costs little.  Free memory can be
 * pre-fragmented by a seeded pattern ("frag"); frames of the pattern that
 * are not free belong to someone else (foreign).  Freed frames are poisoned,
 * and hardware accesses (isim_pa_read/write) to frames that are not
 * allocated fail and are counted: a DMA use-after-free detector.
 *
 * Thread-safe: one rwlock inside; DMA copies run under the read side.
 */
#ifndef ISIM_MM_PHYS_H
#define ISIM_MM_PHYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "iommufd-sim/sim.h"
#include "sim/lib/pfn_run.h"

struct isim_phys;
struct isim_tracer;

/* Orders 0 .. ISIM_PHYS_MAX_ORDER; the top order is 1 GiB of frames. */
#define ISIM_PHYS_MAX_ORDER 18
#define ISIM_PHYS_NR_ORDERS (ISIM_PHYS_MAX_ORDER + 1)

enum isim_frame_state {
	ISIM_FRAME_FREE,	/* free, never used since the machine started */
	ISIM_FRAME_ALLOCATED,
	ISIM_FRAME_POISONED,	/* free again after use */
};

/* How the simulator reaches a frame's bytes (isim_phys_set_host). */
enum {
	/* The mapping is the simulator's own: plain memcpy is safe. */
	ISIM_HOST_DIRECT = 1u << 0,
	/* Read-only mapping: device writes fail with -EFAULT. */
	ISIM_HOST_RDONLY = 1u << 1,
};

struct isim_frame_info {
	enum isim_frame_state state;
	uint32_t refcount;
	uint32_t pincount;
	unsigned order;		/* allocated: order of the block it came from */
	bool foreign;		/* allocated by someone else (fragmentation) */
	unsigned host_flags;	/* ISIM_HOST_* */
	uint32_t owner;		/* tag of the layer that set the host address */
	void *host;		/* where its bytes live; NULL: none */
};

struct isim_phys_stats {
	uint64_t nframes;
	uint64_t allocated;	/* frames allocated through this API */
	uint64_t foreign;	/* foreign frames in touched blocks */
	uint64_t free_listed;	/* free frames on the free lists */
	uint64_t pinned_frames;	/* frames with pincount > 0 */
	uint64_t total_pins;	/* sum of all pin counts */
	uint64_t bad_dma;	/* accesses to frames that are not allocated */
	uint64_t bad_release;	/* unpin/put of a frame with no pin/ref */
	uint64_t touched_blocks;
	uint64_t free_blocks[ISIM_PHYS_NR_ORDERS];
};

/*
 * Called with the phys lock held (write side) when a frame whose owner tag
 * is non-zero is freed, before its host address is forgotten.  The owner
 * must serialise every put/unpin of its frames with its own lock, which is
 * taken before the phys lock.
 */
typedef void (*isim_phys_release_fn)(void *arg, uint64_t pfn, uint32_t owner,
				     void *host);

/* @trace may be NULL.  mem_size/page_size/frag/seed come from @cfg. */
int isim_phys_create(const struct isim_machine_config *cfg,
		     struct isim_tracer *trace, struct isim_phys **out);
void isim_phys_destroy(struct isim_phys *phys);
void isim_phys_set_release(struct isim_phys *phys, isim_phys_release_fn fn,
			   void *arg);

uint32_t isim_phys_page_size(const struct isim_phys *phys);
unsigned isim_phys_page_shift(const struct isim_phys *phys);
uint64_t isim_phys_nframes(const struct isim_phys *phys);

/*
 * 2^@order naturally aligned frames, each allocated with refcount 1, no
 * pin and no host bytes; -ENOMEM when no free block is that large.  Each
 * frame is released on its own (the kernel's split_page), so a caller may
 * free parts of a block.
 */
int isim_phys_alloc(struct isim_phys *phys, unsigned order, uint64_t *pfn);
/* Drop the allocation reference of each frame of the block. */
void isim_phys_free(struct isim_phys *phys, uint64_t pfn, unsigned order);

/* References: a frame is freed (poisoned) when its refcount reaches 0. */
int isim_phys_get(struct isim_phys *phys, uint64_t pfn);
/* Returns true when this put freed the frame. */
bool isim_phys_put(struct isim_phys *phys, uint64_t pfn);
void isim_phys_put_pfns(struct isim_phys *phys, const uint64_t *pfns,
			size_t n);

/*
 * A pin holds the frame as a reference does (isim_phys_frame reports it
 * in both counts); a frame whose last plain reference goes while pinned is
 * released by its last unpin.  Pinning is all-or-nothing: -EFAULT if a
 * frame is not allocated, -ENOMEM if a pin count would overflow.
 */
int isim_phys_pin(struct isim_phys *phys, uint64_t pfn, size_t count);
void isim_phys_unpin(struct isim_phys *phys, uint64_t pfn, size_t count);
int isim_phys_pin_pfns(struct isim_phys *phys, const uint64_t *pfns,
		       size_t n);
/* The same for runs of frames, one pin call for them all. */
int isim_phys_pin_runs(struct isim_phys *phys,
		       const struct isim_pfn_run *runs, size_t nruns);
void isim_phys_unpin_pfns(struct isim_phys *phys, const uint64_t *pfns,
			  size_t n);

/*
 * Where the bytes of allocated frames live: frame pfns[i] gets
 * host + i * PAGE_SIZE.  -EFAULT if a frame is not allocated.
 */
int isim_phys_set_host(struct isim_phys *phys, const uint64_t *pfns,
		       size_t n, void *host, unsigned flags, uint32_t owner);
/* Same for the run pfn .. pfn + count - 1. */
int isim_phys_set_host_run(struct isim_phys *phys, uint64_t pfn,
			   size_t count, void *host, unsigned flags,
			   uint32_t owner);

/* Any frame, touched or not: -ERANGE beyond the end of memory. */
int isim_phys_frame(struct isim_phys *phys, uint64_t pfn,
		    struct isim_frame_info *info);

/*
 * Hardware access by physical address.  Every frame of the range must be
 * allocated, else nothing is copied, the bad-DMA counter goes up and the
 * answer is -EFAULT.  An allocated frame without host bytes (foreign
 * memory) reads as zeros and ignores writes.
 */
int isim_pa_read(struct isim_phys *phys, uint64_t pa, void *buf, size_t len);
int isim_pa_write(struct isim_phys *phys, uint64_t pa, const void *buf,
		  size_t len);

uint64_t isim_phys_bad_dma(struct isim_phys *phys);
/* Sum of all pin counts, for comparing with the core's pin holders. */
uint64_t isim_phys_total_pins(struct isim_phys *phys);
void isim_phys_stats(struct isim_phys *phys, struct isim_phys_stats *st);

/*
 * Invariants: free lists consistent and fully coalesced, every free frame
 * on exactly one free block, no free frame pinned or referenced, every
 * allocated frame referenced or pinned, counters match the frames, no bad
 * unpin/put seen.
 * Appends one line per problem to @buf at *@used; returns the number of
 * problems.  Walks every touched frame: call it at quiescence.
 */
int isim_phys_check(struct isim_phys *phys, char *buf, size_t len,
		    size_t *used);

#endif
