/*
 * What the simulated physical memory can say about itself: the counters
 * (isim_phys_stats and friends) and isim_phys_check, which walks every
 * touched frame and every free list and reports each broken invariant as
 * one line.  Kept apart from the allocator because it only reads, and so
 * that the invariants can be read in one place next to the counters they
 * hold the frames to.
 */
#include "config.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "sim/mm/phys_private.h"

/* ------------------------------------------------------------ stats */

uint64_t isim_phys_bad_dma(struct isim_phys *phys)
{
	return atomic_load(&phys->bad_dma);
}

uint64_t isim_phys_total_pins(struct isim_phys *phys)
{
	uint64_t n;

	pthread_rwlock_rdlock(&phys->lock);
	n = phys->total_pins;
	pthread_rwlock_unlock(&phys->lock);
	return n;
}

void isim_phys_stats(struct isim_phys *phys, struct isim_phys_stats *st)
{
	memset(st, 0, sizeof(*st));
	pthread_rwlock_rdlock(&phys->lock);
	st->nframes = phys->nframes;
	st->allocated = phys->allocated;
	st->foreign = phys->foreign;
	st->free_listed = phys->free_listed;
	st->pinned_frames = phys->pinned_frames;
	st->total_pins = phys->total_pins;
	st->bad_release = phys->bad_release;
	st->touched_blocks = phys->touched;
	for (unsigned o = 0; o <= phys->max_order; o++)
		st->free_blocks[o] = phys->area[o].count;
	pthread_rwlock_unlock(&phys->lock);
	st->bad_dma = atomic_load(&phys->bad_dma);
}

/* -------------------------------------------------------- invariants */

__attribute__((format(printf, 4, 5)))
static int phys_report(char *buf, size_t len, size_t *used, const char *fmt,
		       ...)
{
	va_list ap;
	int n;

	if (buf && *used < len) {
		va_start(ap, fmt);
		n = vsnprintf(buf + *used, len - *used, fmt, ap);
		va_end(ap);
		if (n > 0)
			*used += (size_t)n < len - *used ? (size_t)n :
							   len - *used - 1;
	}
	return 1;
}

#define report(...) (errors += phys_report(buf, len, used, __VA_ARGS__))

static int check_lists(const struct isim_phys *phys, char *buf, size_t len,
		       size_t *used)
{
	int errors = 0;

	for (unsigned o = 0; o <= phys->max_order; o++) {
		const struct free_area *a = &phys->area[o];
		uint64_t prev = NO_PFN, pfn = a->head, n = 0;

		while (pfn != NO_PFN && n <= a->count) {
			const struct frame *f = pfn < phys->nframes ?
						frame_of(phys, pfn) : NULL;

			if (!f || !(f->flags & FR_HEAD) || f->order != o ||
			    f->u.free.prev != prev) {
				report("phys: order-%u free list broken at pfn %#" PRIx64 "\n",
				       o, pfn);
				break;
			}
			n++;
			prev = pfn;
			pfn = f->u.free.next;
		}
		if (n != a->count || (pfn == NO_PFN && prev != a->tail))
			report("phys: order-%u free list holds %" PRIu64
			       " blocks, counted %" PRIu64 "\n",
			       o, n, a->count);
	}
	return errors;
}

static int check_block(const struct isim_phys *phys, uint64_t b,
		       uint64_t *seen, uint64_t heads[], char *buf, size_t len,
		       size_t *used)
{
	uint64_t base = b << phys->max_order, nf = block_frames(phys, b);
	const struct frame *frames = phys->blocks[b].frames;
	const uint32_t *pins = phys->blocks[b].pins;
	int errors = 0;

	for (uint64_t i = 0; i < nf;) {
		const struct frame *f = &frames[i];
		uint32_t pincount = pins[i] & PIN_COUNT_MAX;
		uint64_t pfn = base + i, size, buddy;

		if (f->state == ISIM_FRAME_ALLOCATED) {
			if (f->flags & FR_HEAD)
				report("phys: pfn %#" PRIx64 " allocated and on a free list\n",
				       pfn);
			if (!(pins[i] & PIN_ALLOCATED) ||
			    (!f->u.used.refcount && !pincount))
				report("phys: pfn %#" PRIx64 " allocated with refcount %u pincount %u (pin word %#x)\n",
				       pfn, f->u.used.refcount, pincount,
				       pins[i]);
			if (f->flags & FR_FOREIGN)
				seen[1]++;
			else
				seen[0]++;
			if (pincount)
				seen[2]++;
			seen[3] += pincount;
			if (!f->u.used.refcount)
				seen[5]++;
			i++;
			continue;
		}
		if (pins[i])
			report("phys: pfn %#" PRIx64 " not allocated, pin word %#x\n",
			       pfn, pins[i]);
		if (!(f->flags & FR_HEAD) || f->order > phys->max_order) {
			report("phys: free pfn %#" PRIx64 " is on no free list\n",
			       pfn);
			i++;
			continue;
		}
		size = 1ull << f->order;
		if ((pfn & (size - 1)) || i + size > nf) {
			report("phys: free block %#" PRIx64 " order %u misplaced\n",
			       pfn, f->order);
			i++;
			continue;
		}
		heads[f->order]++;
		seen[4] += size;
		buddy = pfn ^ size;
		if (f->order < phys->max_order && buddy < phys->nframes &&
		    (frames[buddy - base].flags & FR_HEAD) &&
		    frames[buddy - base].order == f->order)
			report("phys: free buddies %#" PRIx64 " and %#" PRIx64
			       " not coalesced (order %u)\n",
			       pfn, buddy, f->order);
		for (uint64_t j = 1; j < size; j++) {
			const struct frame *g = &frames[i + j];

			if (g->state == ISIM_FRAME_ALLOCATED || g->flags ||
			    pins[i + j] || g->u.used.refcount)
				report("phys: pfn %#" PRIx64 " inside free block %#" PRIx64
				       " is not free (state %u pin word %#x)\n",
				       pfn + j, pfn, g->state, pins[i + j]);
		}
		i += size;
	}
	return errors;
}

int isim_phys_check(struct isim_phys *phys, char *buf, size_t len,
		    size_t *used)
{
	/* allocated, foreign, pinned frames, pins, free frames, orphans */
	uint64_t seen[6] = { 0 }, heads[ISIM_PHYS_NR_ORDERS] = { 0 };
	size_t zero = 0;
	int errors = 0;

	if (!used)
		used = &zero;
	pthread_rwlock_rdlock(&phys->lock);
	for (uint64_t b = 0; b < phys->nblocks; b++)
		if (phys->blocks[b].frames)
			errors += check_block(phys, b, seen, heads, buf, len,
					      used);
	errors += check_lists(phys, buf, len, used);
	for (unsigned o = 0; o <= phys->max_order; o++)
		if (heads[o] != phys->area[o].count)
			report("phys: %" PRIu64 " free heads of order %u, list has %" PRIu64 "\n",
			       heads[o], o, phys->area[o].count);
	if (seen[0] != phys->allocated || seen[1] != phys->foreign ||
	    seen[2] != phys->pinned_frames || seen[3] != phys->total_pins ||
	    seen[4] != phys->free_listed)
		report("phys: counters (alloc %" PRIu64 " foreign %" PRIu64
		       " pinned %" PRIu64 " pins %" PRIu64 " free %" PRIu64
		       ") do not match frames (%" PRIu64 " %" PRIu64 " %" PRIu64
		       " %" PRIu64 " %" PRIu64 ")\n",
		       phys->allocated, phys->foreign, phys->pinned_frames,
		       phys->total_pins, phys->free_listed, seen[0], seen[1],
		       seen[2], seen[3], seen[4]);
	if (seen[5] != phys->orphans)
		report("phys: %" PRIu64 " frames held by pins alone, counted %" PRIu64 "\n",
		       seen[5], phys->orphans);
	if (phys->bad_release)
		report("phys: %" PRIu64 " unpin/put of frames without a pin or reference\n",
		       phys->bad_release);
	pthread_rwlock_unlock(&phys->lock);
	return errors;
}
