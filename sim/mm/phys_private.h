/*
 * The insides of the simulated physical memory, shared by sim/mm/phys.c
 * (frames, free lists, allocation, DMA), frag.c (the seeded fragmentation
 * pattern of untouched blocks) and phys_check.c (invariants and counters)
 * and by nothing else.  Unless a declaration says otherwise, callers hold
 * the phys lock: the write side to change anything, the read side to look.
 */
#ifndef ISIM_MM_PHYS_PRIVATE_H
#define ISIM_MM_PHYS_PRIVATE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "sim/lib/trace.h"
#include "sim/mm/phys.h"

#define NO_PFN UINT64_MAX

enum {
	FR_HEAD = 1u << 0,	/* first frame of a free block: order valid */
	FR_FOREIGN = 1u << 1,	/* pattern memory of someone else */
	FR_DIRECT = 1u << 2,	/* ISIM_HOST_DIRECT */
	FR_RDONLY = 1u << 3,	/* ISIM_HOST_RDONLY */
};

/*
 * Pins are counted apart from the frames, in one 32-bit word per frame:
 * PIN_ALLOCATED while the frame is allocated, the pin count in the bits
 * below.  Pinning a run then reads and writes 4 bytes per frame of a dense
 * array instead of a whole struct frame, and a frame's refcount counts the
 * plain references only: a frame is released when both reach zero.
 */
#define PIN_ALLOCATED (1u << 31)
#define PIN_COUNT_MAX (PIN_ALLOCATED - 1)

struct frame {
	uint8_t state;		/* enum isim_frame_state */
	uint8_t flags;
	uint8_t order;		/* block order (free head or allocation) */
	uint8_t unused;
	union {
		struct {
			uint64_t prev, next;
		} free;		/* free heads only */
		struct {
			void *host;
			uint32_t refcount;	/* plain references, no pins */
			uint32_t owner;
		} used;		/* allocated frames; all zero when free */
	} u;
};

struct block {
	struct frame *frames;	/* NULL until touched */
	uint32_t *pins;		/* one PIN_* word per frame, with frames */
	int8_t max_free;	/* untouched: largest free order; -2 unknown */
};

struct free_area {
	uint64_t head, tail, count;
};

struct isim_phys {
	pthread_rwlock_t lock;
	struct isim_tracer *trace;
	isim_phys_release_fn release;
	void *release_arg;
	uint64_t nframes;
	uint32_t page_size;
	unsigned page_shift;
	unsigned max_order;
	uint64_t nblocks;
	struct block *blocks;
	struct free_area area[ISIM_PHYS_NR_ORDERS];
	uint64_t seed;
	double broken_p;	/* chance a whole pattern block is broken */
	/* Counters; bad_dma is bumped under the read side, so atomic. */
	uint64_t allocated, foreign, free_listed, pinned_frames, total_pins;
	uint64_t orphans;	/* allocated frames that only pins hold */
	uint64_t touched, bad_release;
	atomic_uint_fast64_t bad_dma;
};

#define phys_trace(phys, ...)                                              \
	do {                                                               \
		if ((phys)->trace)                                         \
			isim_trace((phys)->trace, __VA_ARGS__);            \
	} while (0)

static inline uint64_t block_frames(const struct isim_phys *phys, uint64_t b)
{
	uint64_t base = b << phys->max_order;
	uint64_t n = 1ull << phys->max_order;

	return phys->nframes - base < n ? phys->nframes - base : n;
}

/* The frame of @pfn (< nframes) or NULL while its block is untouched. */
static inline struct frame *frame_of(const struct isim_phys *phys,
				     uint64_t pfn)
{
	const struct block *b = &phys->blocks[pfn >> phys->max_order];

	if (!b->frames)
		return NULL;
	return &b->frames[pfn & ((1ull << phys->max_order) - 1)];
}

/* The pin word of @pfn (< nframes) or NULL while its block is untouched. */
static inline uint32_t *pins_of(const struct isim_phys *phys, uint64_t pfn)
{
	const struct block *b = &phys->blocks[pfn >> phys->max_order];

	if (!b->pins)
		return NULL;
	return &b->pins[pfn & ((1ull << phys->max_order) - 1)];
}

/* splitmix64's finaliser: hashes the pattern and scrambles the seed. */
static inline uint64_t mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	x ^= x >> 31;
	return x;
}

/* ------------------------------------------------------- phys.c */

/* Put the free block at @pfn on its list, at the tail or the head. */
void phys_area_add(struct isim_phys *phys, uint64_t pfn, unsigned order,
		   bool tail);

/* ------------------------------------------------------- frag.c */

void phys_pat_frame(const struct isim_phys *phys, uint64_t pfn,
		    struct isim_frame_info *info);
/* Touch the untouched block that best fits @order: -ENOMEM if none does. */
int phys_touch_block_for(struct isim_phys *phys, unsigned order);
/* No lock: the chance that a whole block is broken, for frag. */
double phys_broken_probability(double frag);

#endif
