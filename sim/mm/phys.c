/*
 * The simulated machine's physical memory.  Frames live in 1 GiB blocks
 * (2^max_order frames, the largest buddy order); a block gets its frame
 * array only when the allocator first takes memory from it, so untouched
 * memory costs one small struct per GiB.  Before that, a block's contents
 * are defined by a seeded fragmentation pattern: a block is either intact
 * (free as one piece) or broken into two halves, recursively; an order-1
 * block that is broken has one foreign frame ("someone else's" memory) and
 * one free frame.  The chance that a block is broken grows with frag, and a
 * broken block always hides at least one foreign frame, so the free pieces
 * it yields never coalesce and high orders become scarce as frag goes to 1.
 * Touching a block lays the pattern out on the free lists; the allocator
 * prefers the untouched block whose largest free piece is the smallest that
 * fits, as a buddy allocator prefers small free blocks to splitting big ones.
 * Free lists are intrusive (links in the head frame of each free block),
 * freed blocks go to the tail so poison lingers as long as possible, split
 * remainders to the head so allocations stay local.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "sim/lib/fault.h"
#include "sim/lib/trace.h"
#include "sim/mm/phys.h"

#define NO_PFN UINT64_MAX

enum {
	FR_HEAD = 1u << 0,	/* first frame of a free block: order valid */
	FR_FOREIGN = 1u << 1,	/* pattern memory of someone else */
	FR_DIRECT = 1u << 2,	/* ISIM_HOST_DIRECT */
	FR_RDONLY = 1u << 3,	/* ISIM_HOST_RDONLY */
};

struct frame {
	uint8_t state;		/* enum isim_frame_state */
	uint8_t flags;
	uint8_t order;		/* block order (free head or allocation) */
	uint8_t unused;
	uint32_t pincount;
	union {
		struct {
			uint64_t prev, next;
		} free;		/* free heads only */
		struct {
			void *host;
			uint32_t refcount;
			uint32_t owner;
		} used;		/* allocated frames; all zero when free */
	} u;
};

struct block {
	struct frame *frames;	/* NULL until touched */
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
	uint64_t touched, bad_release;
	atomic_uint_fast64_t bad_dma;
};

#define phys_trace(phys, ...)                                              \
	do {                                                               \
		if ((phys)->trace)                                         \
			isim_trace((phys)->trace, __VA_ARGS__);            \
	} while (0)

/* ------------------------------------------------------------ frames */

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

static void area_add(struct isim_phys *phys, uint64_t pfn, unsigned order,
		     bool tail)
{
	struct free_area *a = &phys->area[order];
	struct frame *f = frame_of(phys, pfn);

	f->flags = FR_HEAD;
	f->order = (uint8_t)order;
	if (tail) {
		f->u.free.prev = a->tail;
		f->u.free.next = NO_PFN;
		if (a->tail != NO_PFN)
			frame_of(phys, a->tail)->u.free.next = pfn;
		else
			a->head = pfn;
		a->tail = pfn;
	} else {
		f->u.free.prev = NO_PFN;
		f->u.free.next = a->head;
		if (a->head != NO_PFN)
			frame_of(phys, a->head)->u.free.prev = pfn;
		else
			a->tail = pfn;
		a->head = pfn;
	}
	a->count++;
	phys->free_listed += 1ull << order;
}

static void area_del(struct isim_phys *phys, uint64_t pfn, unsigned order)
{
	struct free_area *a = &phys->area[order];
	struct frame *f = frame_of(phys, pfn);

	if (f->u.free.prev != NO_PFN)
		frame_of(phys, f->u.free.prev)->u.free.next = f->u.free.next;
	else
		a->head = f->u.free.next;
	if (f->u.free.next != NO_PFN)
		frame_of(phys, f->u.free.next)->u.free.prev = f->u.free.prev;
	else
		a->tail = f->u.free.prev;
	f->flags = 0;
	f->order = 0;
	memset(&f->u, 0, sizeof(f->u));
	a->count--;
	phys->free_listed -= 1ull << order;
}

/* --------------------------------------------- fragmentation pattern */

enum pat_kind { PAT_NONE, PAT_PARTIAL, PAT_BROKEN, PAT_INTACT };

enum { SALT_BROKEN = 1, SALT_FORCE = 2, SALT_PICK = 3 };

static inline uint64_t mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	x ^= x >> 31;
	return x;
}

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
		area_add(phys, pfn, order, true);
		return;
	case PAT_BROKEN:
		if (order > 1)
			break;
		bad = pat_foreign(phys, pfn);
		f = frame_of(phys, bad);
		f->state = ISIM_FRAME_ALLOCATED;
		f->flags = FR_FOREIGN;
		f->u.used.refcount = 1;
		phys->foreign++;
		area_add(phys, bad == pfn ? pfn + 1 : pfn, 0, true);
		return;
	case PAT_PARTIAL:
		break;
	}
	pat_children(phys, pfn, order, kind, &lo, &hi);
	pat_lay_out(phys, pfn, order - 1, lo);
	pat_lay_out(phys, pfn + (1ull << (order - 1)), order - 1, hi);
}

/* State of a frame of an untouched block, from the pattern alone. */
static void pat_frame(const struct isim_phys *phys, uint64_t pfn,
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
static int touch_block_for(struct isim_phys *phys, unsigned order)
{
	uint64_t best = NO_PFN, base;
	int best_free = INT32_MAX;
	struct frame *frames;

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
	if (!frames)
		return -ENOMEM;
	phys->blocks[best].frames = frames;
	phys->touched++;
	base = best << phys->max_order;
	pat_lay_out(phys, base, phys->max_order,
		    pat_classify(phys, base, phys->max_order));
	return 0;
}

/* ------------------------------------------------------- allocation */

static int alloc_locked(struct isim_phys *phys, unsigned order, uint64_t *out)
{
	unsigned j;
	uint64_t pfn;
	int rc;

	for (;;) {
		for (j = order; j <= phys->max_order; j++)
			if (phys->area[j].count)
				goto found;
		rc = touch_block_for(phys, order);
		if (rc)
			return rc;
	}
found:
	pfn = phys->area[j].head;
	area_del(phys, pfn, j);
	while (j > order) {
		j--;
		area_add(phys, pfn + (1ull << j), j, false);
	}
	for (uint64_t i = 0; i < (1ull << order); i++) {
		struct frame *f = frame_of(phys, pfn + i);

		f->state = ISIM_FRAME_ALLOCATED;
		f->flags = 0;
		f->order = (uint8_t)order;
		f->pincount = 0;
		f->u.used.host = NULL;
		f->u.used.refcount = 1;
		f->u.used.owner = 0;
	}
	phys->allocated += 1ull << order;
	*out = pfn;
	return 0;
}

/* The last reference went: poison the frame and give it back. */
static void release_locked(struct isim_phys *phys, uint64_t pfn,
			   struct frame *f)
{
	unsigned order = 0;
	struct frame *bf;
	uint64_t buddy;

	if (f->u.used.owner && phys->release)
		phys->release(phys->release_arg, pfn, f->u.used.owner,
			      f->u.used.host);
	if (f->flags & FR_FOREIGN)
		phys->foreign--;
	else
		phys->allocated--;
	f->state = ISIM_FRAME_POISONED;
	f->flags = 0;
	f->order = 0;
	f->pincount = 0;
	memset(&f->u, 0, sizeof(f->u));
	while (order < phys->max_order) {
		buddy = pfn ^ (1ull << order);
		if (buddy >= phys->nframes)
			break;
		bf = frame_of(phys, buddy);
		if (!(bf->flags & FR_HEAD) || bf->order != order)
			break;
		area_del(phys, buddy, order);
		pfn &= ~(1ull << order);
		order++;
	}
	area_add(phys, pfn, order, true);
}

static struct frame *allocated_frame(const struct isim_phys *phys,
				     uint64_t pfn)
{
	struct frame *f;

	if (pfn >= phys->nframes)
		return NULL;
	f = frame_of(phys, pfn);
	if (!f || f->state != ISIM_FRAME_ALLOCATED)
		return NULL;
	return f;
}

static void bad_release(struct isim_phys *phys, const char *what,
			uint64_t pfn)
{
	phys->bad_release++;
	phys_trace(phys, "mm.bad_release", "op=%s pfn=%#" PRIx64, what, pfn);
}

/* Drop a plain reference (not one that a pin holds). */
static bool put_locked(struct isim_phys *phys, uint64_t pfn)
{
	struct frame *f = allocated_frame(phys, pfn);

	if (!f || f->u.used.refcount <= f->pincount) {
		bad_release(phys, "put", pfn);
		return false;
	}
	if (--f->u.used.refcount)
		return false;
	release_locked(phys, pfn, f);
	return true;
}

static int pin_locked(struct isim_phys *phys, uint64_t pfn)
{
	struct frame *f = allocated_frame(phys, pfn);

	if (!f)
		return -EFAULT;
	if (f->pincount == UINT32_MAX || f->u.used.refcount == UINT32_MAX)
		return -ENOMEM;
	if (!f->pincount++)
		phys->pinned_frames++;
	f->u.used.refcount++;
	phys->total_pins++;
	return 0;
}

static void unpin_locked(struct isim_phys *phys, uint64_t pfn)
{
	struct frame *f = allocated_frame(phys, pfn);

	if (!f || !f->pincount) {
		bad_release(phys, "unpin", pfn);
		return;
	}
	if (!--f->pincount)
		phys->pinned_frames--;
	phys->total_pins--;
	if (!--f->u.used.refcount)
		release_locked(phys, pfn, f);
}

int isim_phys_alloc(struct isim_phys *phys, unsigned order, uint64_t *pfn)
{
	int rc;

	if (order > phys->max_order)
		return -ENOMEM;
	pthread_rwlock_wrlock(&phys->lock);
	rc = alloc_locked(phys, order, pfn);
	pthread_rwlock_unlock(&phys->lock);
	return rc;
}

void isim_phys_free(struct isim_phys *phys, uint64_t pfn, unsigned order)
{
	pthread_rwlock_wrlock(&phys->lock);
	for (uint64_t i = 0; i < (1ull << order); i++)
		put_locked(phys, pfn + i);
	pthread_rwlock_unlock(&phys->lock);
}

int isim_phys_get(struct isim_phys *phys, uint64_t pfn)
{
	struct frame *f;
	int rc = 0;

	pthread_rwlock_wrlock(&phys->lock);
	f = allocated_frame(phys, pfn);
	if (!f)
		rc = -EFAULT;
	else if (f->u.used.refcount == UINT32_MAX)
		rc = -ENOMEM;
	else
		f->u.used.refcount++;
	pthread_rwlock_unlock(&phys->lock);
	return rc;
}

bool isim_phys_put(struct isim_phys *phys, uint64_t pfn)
{
	bool freed;

	pthread_rwlock_wrlock(&phys->lock);
	freed = put_locked(phys, pfn);
	pthread_rwlock_unlock(&phys->lock);
	return freed;
}

void isim_phys_put_pfns(struct isim_phys *phys, const uint64_t *pfns,
			size_t n)
{
	pthread_rwlock_wrlock(&phys->lock);
	for (size_t i = 0; i < n; i++)
		put_locked(phys, pfns[i]);
	pthread_rwlock_unlock(&phys->lock);
}

int isim_phys_pin(struct isim_phys *phys, uint64_t pfn, size_t count)
{
	size_t i;
	int rc = 0;

	pthread_rwlock_wrlock(&phys->lock);
	for (i = 0; i < count; i++) {
		rc = pin_locked(phys, pfn + i);
		if (rc)
			break;
	}
	if (rc)
		while (i--)
			unpin_locked(phys, pfn + i);
	pthread_rwlock_unlock(&phys->lock);
	return rc;
}

void isim_phys_unpin(struct isim_phys *phys, uint64_t pfn, size_t count)
{
	pthread_rwlock_wrlock(&phys->lock);
	for (size_t i = 0; i < count; i++)
		unpin_locked(phys, pfn + i);
	pthread_rwlock_unlock(&phys->lock);
}

int isim_phys_pin_pfns(struct isim_phys *phys, const uint64_t *pfns, size_t n)
{
	size_t i;
	int rc = 0;

	pthread_rwlock_wrlock(&phys->lock);
	for (i = 0; i < n; i++) {
		rc = pin_locked(phys, pfns[i]);
		if (rc)
			break;
	}
	if (rc)
		while (i--)
			unpin_locked(phys, pfns[i]);
	pthread_rwlock_unlock(&phys->lock);
	return rc;
}

void isim_phys_unpin_pfns(struct isim_phys *phys, const uint64_t *pfns,
			  size_t n)
{
	pthread_rwlock_wrlock(&phys->lock);
	for (size_t i = 0; i < n; i++)
		unpin_locked(phys, pfns[i]);
	pthread_rwlock_unlock(&phys->lock);
}

static void set_host_locked(struct frame *f, void *host, unsigned flags,
			    uint32_t owner)
{
	f->flags &= (uint8_t)~(FR_DIRECT | FR_RDONLY);
	if (flags & ISIM_HOST_DIRECT)
		f->flags |= FR_DIRECT;
	if (flags & ISIM_HOST_RDONLY)
		f->flags |= FR_RDONLY;
	f->u.used.host = host;
	f->u.used.owner = owner;
}

int isim_phys_set_host(struct isim_phys *phys, const uint64_t *pfns,
		       size_t n, void *host, unsigned flags, uint32_t owner)
{
	int rc = 0;

	pthread_rwlock_wrlock(&phys->lock);
	for (size_t i = 0; i < n; i++)
		if (!allocated_frame(phys, pfns[i]))
			rc = -EFAULT;
	for (size_t i = 0; !rc && i < n; i++)
		set_host_locked(frame_of(phys, pfns[i]),
				host ? (char *)host + (i << phys->page_shift) :
				       NULL,
				flags, owner);
	pthread_rwlock_unlock(&phys->lock);
	return rc;
}

int isim_phys_set_host_run(struct isim_phys *phys, uint64_t pfn,
			   size_t count, void *host, unsigned flags,
			   uint32_t owner)
{
	int rc = 0;

	pthread_rwlock_wrlock(&phys->lock);
	for (size_t i = 0; i < count; i++)
		if (!allocated_frame(phys, pfn + i))
			rc = -EFAULT;
	for (size_t i = 0; !rc && i < count; i++)
		set_host_locked(frame_of(phys, pfn + i),
				host ? (char *)host + (i << phys->page_shift) :
				       NULL,
				flags, owner);
	pthread_rwlock_unlock(&phys->lock);
	return rc;
}

/* ------------------------------------------------------------ queries */

static void frame_info(const struct isim_phys *phys, uint64_t pfn,
		       struct isim_frame_info *info)
{
	const struct frame *f = frame_of(phys, pfn);

	if (!f) {
		pat_frame(phys, pfn, info);
		return;
	}
	memset(info, 0, sizeof(*info));
	info->state = f->state;
	info->pincount = f->pincount;
	if (f->state != ISIM_FRAME_ALLOCATED)
		return;
	info->order = f->order;
	info->foreign = f->flags & FR_FOREIGN;
	info->refcount = f->u.used.refcount;
	info->owner = f->u.used.owner;
	info->host = f->u.used.host;
	if (f->flags & FR_DIRECT)
		info->host_flags |= ISIM_HOST_DIRECT;
	if (f->flags & FR_RDONLY)
		info->host_flags |= ISIM_HOST_RDONLY;
}

int isim_phys_frame(struct isim_phys *phys, uint64_t pfn,
		    struct isim_frame_info *info)
{
	if (pfn >= phys->nframes)
		return -ERANGE;
	pthread_rwlock_rdlock(&phys->lock);
	frame_info(phys, pfn, info);
	pthread_rwlock_unlock(&phys->lock);
	return 0;
}

/*
 * Frames whose host bytes are program memory or a file mapping are copied
 * with process_vm_readv/writev: the program may have unmapped them under
 * us, and the kernel then answers EFAULT where a memcpy would crash.
 */
static int user_copy(void *host, void *buf, size_t len, bool write)
{
	struct iovec l = { .iov_base = buf, .iov_len = len };
	struct iovec r = { .iov_base = host, .iov_len = len };
	ssize_t n;

	n = write ? process_vm_writev(getpid(), &l, 1, &r, 1, 0) :
		    process_vm_readv(getpid(), &l, 1, &r, 1, 0);
	return n == (ssize_t)len ? 0 : -EFAULT;
}

static int pa_access(struct isim_phys *phys, uint64_t pa, char *buf,
		     size_t len, bool write)
{
	uint64_t first, last, end;
	struct isim_frame_info info;
	int rc = 0;

	if (!len)
		return 0;
	end = pa + len;
	pthread_rwlock_rdlock(&phys->lock);
	if (end < pa || end > (phys->nframes << phys->page_shift))
		goto bad;
	first = pa >> phys->page_shift;
	last = (end - 1) >> phys->page_shift;
	/* Check the whole range first so a bad access copies nothing. */
	for (uint64_t pfn = first; pfn <= last; pfn++) {
		struct frame *f = frame_of(phys, pfn);

		if (!f) {
			pat_frame(phys, pfn, &info);
			if (info.state != ISIM_FRAME_ALLOCATED)
				goto bad;
			continue;
		}
		if (f->state != ISIM_FRAME_ALLOCATED)
			goto bad;
		if (write && (f->flags & FR_RDONLY))
			rc = -EFAULT;
	}
	while (!rc && pa < end) {
		uint64_t pfn = pa >> phys->page_shift;
		size_t in = pa & (phys->page_size - 1);
		size_t n = phys->page_size - in;
		struct frame *f = frame_of(phys, pfn);
		char *host = f ? f->u.used.host : NULL;

		if (n > end - pa)
			n = end - pa;
		if (!host) {
			if (!write)
				memset(buf, 0, n);
		} else if (f->flags & FR_DIRECT) {
			if (write)
				memcpy(host + in, buf, n);
			else
				memcpy(buf, host + in, n);
		} else {
			rc = user_copy(host + in, buf, n, write);
		}
		pa += n;
		buf += n;
	}
	pthread_rwlock_unlock(&phys->lock);
	return rc;
bad:
	atomic_fetch_add(&phys->bad_dma, 1);
	phys_trace(phys, "mm.dma_fault", "pa=%#" PRIx64 " len=%zu write=%d", pa,
		   len, write);
	pthread_rwlock_unlock(&phys->lock);
	return -EFAULT;
}

int isim_pa_read(struct isim_phys *phys, uint64_t pa, void *buf, size_t len)
{
	return pa_access(phys, pa, buf, len, false);
}

int isim_pa_write(struct isim_phys *phys, uint64_t pa, const void *buf,
		  size_t len)
{
	return pa_access(phys, pa, (char *)buf, len, true);
}

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

uint32_t isim_phys_page_size(const struct isim_phys *phys)
{
	return phys->page_size;
}

unsigned isim_phys_page_shift(const struct isim_phys *phys)
{
	return phys->page_shift;
}

uint64_t isim_phys_nframes(const struct isim_phys *phys)
{
	return phys->nframes;
}

void isim_phys_set_release(struct isim_phys *phys, isim_phys_release_fn fn,
			   void *arg)
{
	pthread_rwlock_wrlock(&phys->lock);
	phys->release = fn;
	phys->release_arg = arg;
	pthread_rwlock_unlock(&phys->lock);
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
	int errors = 0;

	for (uint64_t i = 0; i < nf;) {
		const struct frame *f = &frames[i];
		uint64_t pfn = base + i, size, buddy;

		if (f->state == ISIM_FRAME_ALLOCATED) {
			if (f->flags & FR_HEAD)
				report("phys: pfn %#" PRIx64 " allocated and on a free list\n",
				       pfn);
			if (!f->u.used.refcount ||
			    f->u.used.refcount < f->pincount)
				report("phys: pfn %#" PRIx64 " refcount %u pincount %u\n",
				       pfn, f->u.used.refcount, f->pincount);
			if (f->flags & FR_FOREIGN)
				seen[1]++;
			else
				seen[0]++;
			if (f->pincount)
				seen[2]++;
			seen[3] += f->pincount;
			i++;
			continue;
		}
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
		if (f->pincount)
			report("phys: free pfn %#" PRIx64 " pinned %u times\n",
			       pfn, f->pincount);
		for (uint64_t j = 1; j < size; j++) {
			const struct frame *g = &frames[i + j];

			if (g->state == ISIM_FRAME_ALLOCATED || g->flags ||
			    g->pincount || g->u.used.refcount)
				report("phys: pfn %#" PRIx64 " inside free block %#" PRIx64
				       " is not free (state %u pins %u)\n",
				       pfn + j, pfn, g->state, g->pincount);
		}
		i += size;
	}
	return errors;
}

int isim_phys_check(struct isim_phys *phys, char *buf, size_t len,
		    size_t *used)
{
	/* allocated, foreign, pinned frames, pins, free frames */
	uint64_t seen[5] = { 0 }, heads[ISIM_PHYS_NR_ORDERS] = { 0 };
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
	if (phys->bad_release)
		report("phys: %" PRIu64 " unpin/put of frames without a pin or reference\n",
		       phys->bad_release);
	pthread_rwlock_unlock(&phys->lock);
	return errors;
}

/* ---------------------------------------------------- create/destroy */

/*
 * The chance that a whole block is broken, chosen so that frag is the
 * fraction of free memory NOT in blocks of THP size or larger: the
 * THP-sized pieces sit ten halvings below 1 GiB for every page size.
 */
static double broken_probability(double frag)
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

int isim_phys_create(const struct isim_machine_config *cfg,
		     struct isim_tracer *trace, struct isim_phys **out)
{
	pthread_rwlockattr_t attr;
	struct isim_phys *phys;
	unsigned shift;

	if (cfg->page_size != 4096 && cfg->page_size != 16384 &&
	    cfg->page_size != 65536)
		return -EINVAL;
	if (!cfg->mem_size || cfg->mem_size % cfg->page_size ||
	    !(cfg->frag >= 0.0 && cfg->frag <= 1.0))
		return -EINVAL;
	shift = (unsigned)__builtin_ctz(cfg->page_size);
	phys = isim_kzalloc(sizeof(*phys));
	if (!phys)
		return -ENOMEM;
	phys->trace = trace;
	phys->page_size = cfg->page_size;
	phys->page_shift = shift;
	phys->max_order = 30 - shift;
	phys->nframes = cfg->mem_size >> shift;
	phys->nblocks = (phys->nframes + (1ull << phys->max_order) - 1) >>
			phys->max_order;
	phys->seed = mix64(cfg->seed ^ 0x6d6d2d7068797321ull);
	phys->broken_p = broken_probability(cfg->frag);
	phys->blocks = isim_kcalloc(phys->nblocks, sizeof(*phys->blocks));
	if (!phys->blocks) {
		free(phys);
		return -ENOMEM;
	}
	for (uint64_t b = 0; b < phys->nblocks; b++)
		phys->blocks[b].max_free = -2;
	for (unsigned o = 0; o < ISIM_PHYS_NR_ORDERS; o++)
		phys->area[o].head = phys->area[o].tail = NO_PFN;
	atomic_init(&phys->bad_dma, 0);
	/* Model threads read memory constantly; pins must not starve. */
	pthread_rwlockattr_init(&attr);
	pthread_rwlockattr_setkind_np(&attr,
			PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&phys->lock, &attr);
	pthread_rwlockattr_destroy(&attr);
	*out = phys;
	return 0;
}

void isim_phys_destroy(struct isim_phys *phys)
{
	if (!phys)
		return;
	for (uint64_t b = 0; b < phys->nblocks; b++)
		free(phys->blocks[b].frames);
	free(phys->blocks);
	pthread_rwlock_destroy(&phys->lock);
	free(phys);
}
