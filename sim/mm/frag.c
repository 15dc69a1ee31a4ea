/*
 * The seeded fragmentation pattern that defines the contents of a block
 * of physical memory the allocator has not touched yet.  A block is either
 * intact (free as one piece) or broken into two halves, recursively; an
 * order-1 block that is broken has one foreign frame ("someone else's"
 * memory) and one free frame.  The chance that a block is broken grows
 * with frag, and a broken block always hides at least one foreign frame,
 * so the free pieces it yields never coalesce and high orders become
 * scarce as frag goes to 1.  Everything is a pure function of the seed,
 * so an untouched block costs no frames: touching one lays its pattern
 * out on the free lists, and queries about the others read the pattern.
 * The allocator touches the untouched block whose largest free piece is
 * the smallest that fits, as a buddy allocator prefers small free blocks
 * to splitting big ones.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sim/lib/fault.h"
#include "sim/mm/phys_private.h"

/* --------------------------------------------- fragmentation pattern */

enum pat_kind { PAT_NONE, PAT_PARTIAL, PAT_BROKEN, PAT_INTACT };

enum { SALT_BROKEN = 1, SALT_FORCE = 2, SALT_PICK = 3 };

static inline uint64_t pat_hash(const struct isim_phys *phys, uint64_t pfn,
				unsigned order, unsigned salt)
{
	return mix64(phys->seed ^ mix64((pfn << 8) | (order << 2) | salt));
}

static enum pat_kind pat_classify(const struct isim_phys *phys, uint64_t pfn,
				  unsigned order)
{
	double u;

	if (pfn >= phys->nframes)
		return PAT_NONE;
	if (phys->nframes - pfn < (1ull << order))
		return PAT_PARTIAL;
	if (!order || phys->broken_p <= 0.0)
		return PAT_INTACT;
	if (phys->broken_p >= 1.0)
		return PAT_BROKEN;
	u = (double)(pat_hash(phys, pfn, order, SALT_BROKEN) >> 11) *
	    (1.0 / 9007199254740992.0);
	return u < phys->broken_p ? PAT_BROKEN : PAT_INTACT;
}

/*
 * The halves of a block of order >= 1 that is not intact.  A broken block
 * whose halves would both be intact would really be one free block, so
 * one half (chosen by the seed) is broken instead.
 */
static void pat_children(const struct isim_phys *phys, uint64_t pfn,
			 unsigned order, enum pat_kind kind,
			 enum pat_kind *lo, enum pat_kind *hi)
{
	*lo = pat_classify(phys, pfn, order - 1);
	*hi = pat_classify(phys, pfn + (1ull << (order - 1)), order - 1);
	if (kind == PAT_BROKEN && *lo == PAT_INTACT && *hi == PAT_INTACT) {
		if (pat_hash(phys, pfn, order, SALT_FORCE) & 1)
			*hi = PAT_BROKEN;
		else
			*lo = PAT_BROKEN;
	}
}

/* The foreign frame of a broken order-1 block at @pfn. */
static inline uint64_t pat_foreign(const struct isim_phys *phys, uint64_t pfn)
{
	return pfn + (pat_hash(phys, pfn, 1, SALT_PICK) & 1);
}

static int pat_max_free(const struct isim_phys *phys, uint64_t pfn,
			unsigned order, enum pat_kind kind)
{
	enum pat_kind lo, hi;
	int a, b;

	switch (kind) {
	case PAT_NONE:
		return -1;
	case PAT_INTACT:
		return (int)order;
	case PAT_BROKEN:
		if (order == 1)
			return 0;
		break;
	case PAT_PARTIAL:
		break;
	}
	pat_children(phys, pfn, order, kind, &lo, &hi);
	a = pat_max_free(phys, pfn, order - 1, lo);
	if (a == (int)order - 1)
		return a;
	b = pat_max_free(phys, pfn + (1ull << (order - 1)), order - 1, hi);
	return a > b ? a : b;
}

static int block_max_free(struct isim_phys *phys, uint64_t b)
{
	uint64_t base = b << phys->max_order;

	if (phys->blocks[b].max_free == -2)
		phys->blocks[b].max_free = (int8_t)pat_max_free(
			phys, base, phys->max_order,
			pat_classify(phys, base, phys->max_order));
	return phys->blocks[b].max_free;
}

/* Lay the pattern of a block that just got its frames onto the lists. */
static void pat_lay_out(struct isim_phys *phys, uint64_t pfn, unsigned order,
			enum pat_kind kind)
{
	enum pat_kind lo, hi;
	uint64_t bad;
	struct frame *f;

	switch (kind) {
	case PAT_NONE:
		return;
	case PAT_INTACT:
		phys_area_add(phys, pfn, order, true);
		return;
	case PAT_BROKEN:
		if (order > 1)
			break;
		bad = pat_foreign(phys, pfn);
		f = frame_of(phys, bad);
		f->state = ISIM_FRAME_ALLOCATED;
		f->flags = FR_FOREIGN;
		f->u.used.refcount = 1;
		*pins_of(phys, bad) = PIN_ALLOCATED;
		phys->foreign++;
		phys_area_add(phys, bad == pfn ? pfn + 1 : pfn, 0, true);
		return;
	case PAT_PARTIAL:
		break;
	}
	pat_children(phys, pfn, order, kind, &lo, &hi);
	pat_lay_out(phys, pfn, order - 1, lo);
	pat_lay_out(phys, pfn + (1ull << (order - 1)), order - 1, hi);
}

/* State of a frame of an untouched block, from the pattern alone. */
void phys_pat_frame(const struct isim_phys *phys, uint64_t pfn,
		    struct isim_frame_info *info)
{
	unsigned order = phys->max_order;
	uint64_t node = pfn & ~((1ull << order) - 1);
	enum pat_kind kind = pat_classify(phys, node, order), lo, hi;

	memset(info, 0, sizeof(*info));
	info->state = ISIM_FRAME_FREE;
	for (;;) {
		if (kind == PAT_INTACT)
			return;
		if (kind == PAT_BROKEN && order == 1) {
			if (pfn == pat_foreign(phys, node)) {
				info->state = ISIM_FRAME_ALLOCATED;
				info->foreign = true;
				info->refcount = 1;
			}
			return;
		}
		pat_children(phys, node, order, kind, &lo, &hi);
		order--;
		if (pfn >= node + (1ull << order)) {
			node += 1ull << order;
			kind = hi;
		} else {
			kind = lo;
		}
	}
}

/*
 * Give an untouched block its frames and free lists: the one whose
 * largest free piece is the smallest that still holds @order, so big
 * untouched blocks stay whole as long as smaller pieces do.
 */
int phys_touch_block_for(struct isim_phys *phys, unsigned order)
{
	uint64_t best = NO_PFN, base;
	int best_free = INT32_MAX;
	struct frame *frames;
	uint32_t *pins;

	for (uint64_t b = 0; b < phys->nblocks; b++) {
		int mf;

		if (phys->blocks[b].frames)
			continue;
		mf = block_max_free(phys, b);
		if (mf >= (int)order && mf < best_free) {
			best = b;
			best_free = mf;
		}
	}
	if (best == NO_PFN)
		return -ENOMEM;
	frames = isim_kcalloc(block_frames(phys, best), sizeof(*frames));
	pins = isim_kcalloc(block_frames(phys, best), sizeof(*pins));
	if (!frames || !pins) {
		free(frames);
		free(pins);
		return -ENOMEM;
	}
	phys->blocks[best].frames = frames;
	phys->blocks[best].pins = pins;
	phys->touched++;
	base = best << phys->max_order;
	pat_lay_out(phys, base, phys->max_order,
		    pat_classify(phys, base, phys->max_order));
	return 0;
}

/* ----------------------------------------------------------- frag */

/*
 * The chance that a whole block is broken, chosen so that frag is the
 * fraction of free memory NOT in blocks of THP size or larger: the
 * THP-sized pieces sit ten halvings below 1 GiB for every page size.
 */
double phys_broken_probability(double frag)
{
	double lo = 0.0, hi = 1.0;

	if (frag <= 0.0 || frag >= 1.0)
		return frag <= 0.0 ? 0.0 : 1.0;
	for (int i = 0; i < 64; i++) {
		double mid = (lo + hi) / 2, p = 1.0;

		for (int k = 0; k < 10; k++)
			p *= mid;
		if (p < frag)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}
