/*
 * The simulated machine's physical memory.  Frames live in 1 GiB blocks
 * (2^max_order frames, the largest buddy order); a block gets its frame
 * array only when the allocator first takes memory from it, so untouched
 * memory costs one small struct per GiB.  Before that, a block's contents
 * are defined by a seeded fragmentation pattern (frag.c), which also picks
 * the block to touch when the free lists run dry.  This file owns the
 * free lists, allocation, references and pins, host addresses and DMA by
 * physical address.  Free lists are intrusive (links in the head frame of
 * each free block), freed blocks go to the tail so poison lingers as long
 * as possible, split remainders to the head so allocations stay local.
 * Counters and the invariant check are in phys_check.c.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "sim/lib/fault.h"
#include "sim/lib/pfn_run.h"
#include "sim/lib/trace.h"
#include "sim/mm/phys.h"
#include "sim/mm/phys_private.h"

/* ------------------------------------------------------------ frames */

void phys_area_add(struct isim_phys *phys, uint64_t pfn, unsigned order,
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
		rc = phys_touch_block_for(phys, order);
		if (rc)
			return rc;
	}
found:
	pfn = phys->area[j].head;
	area_del(phys, pfn, j);
	while (j > order) {
		j--;
		phys_area_add(phys, pfn + (1ull << j), j, false);
	}
	for (uint64_t i = 0; i < (1ull << order); i++) {
		struct frame *f = frame_of(phys, pfn + i);

		f->state = ISIM_FRAME_ALLOCATED;
		f->flags = 0;
		f->order = (uint8_t)order;
		f->u.used.host = NULL;
		f->u.used.refcount = 1;
		f->u.used.owner = 0;
		*pins_of(phys, pfn + i) = PIN_ALLOCATED;
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
	*pins_of(phys, pfn) = 0;
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
	phys_area_add(phys, pfn, order, true);
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

/*
 * Drop a plain reference.  The last one releases the frame, unless pins
 * still hold it: then the last unpin does (the frame is an orphan).
 */
static bool put_locked(struct isim_phys *phys, uint64_t pfn)
{
	struct frame *f = allocated_frame(phys, pfn);

	if (!f || !f->u.used.refcount) {
		bad_release(phys, "put", pfn);
		return false;
	}
	if (--f->u.used.refcount)
		return false;
	if (*pins_of(phys, pfn) & PIN_COUNT_MAX) {
		phys->orphans++;
		return false;
	}
	release_locked(phys, pfn, f);
	return true;
}

#if defined(__GNUC__)
/*
 * Pin words go 64 at a time through the GNU vector extension while
 * every word of the block may simply be bumped by one (allocated, count
 * not full) or dropped by one (allocated, count not zero); a block that
 * breaks the rule is left to the word-by-word loop, which reports it.
 * Returns how many words were done and adds the counts that went 0 -> 1
 * (pin) or 1 -> 0 (unpin) to *@edge.
 */
typedef uint32_t pin_v4 __attribute__((vector_size(16)));
#define PIN_BLOCK 64

static size_t pin_words_fast(uint32_t *w, size_t n, int delta,
			     uint64_t *edge)
{
	/*
	 * A word may move iff it lies in [lo, lo + PIN_COUNT_MAX): allocated
	 * with a count that is not full (pin, lo = PIN_ALLOCATED) or not
	 * zero (unpin, lo = PIN_ALLOCATED + 1).  A word equal to lo is the
	 * edge: a first pin, or a last unpin.
	 */
	const pin_v4 zero = { 0 };
	const pin_v4 lo = zero + PIN_ALLOCATED + (delta < 0);
	const pin_v4 span = zero + PIN_COUNT_MAX;
	const pin_v4 step = zero + (uint32_t)delta;
	pin_v4 edges = zero;
	size_t i;

	for (i = 0; i + PIN_BLOCK <= n; i += PIN_BLOCK) {
		pin_v4 bad = zero, at_edge = zero, x;

		for (unsigned j = 0; j < PIN_BLOCK; j += 4) {
			memcpy(&x, w + i + j, sizeof(x));
			bad |= (pin_v4)(x - lo >= span);
			at_edge -= (pin_v4)(x == lo);
		}
		if (bad[0] | bad[1] | bad[2] | bad[3])
			break;
		for (unsigned j = 0; j < PIN_BLOCK; j += 4) {
			memcpy(&x, w + i + j, sizeof(x));
			x += step;
			memcpy(w + i + j, &x, sizeof(x));
		}
		edges += at_edge;
	}
	*edge += (uint64_t)edges[0] + edges[1] + edges[2] + edges[3];
	return i;
}
#else
static size_t pin_words_fast(uint32_t *w, size_t n, int delta,
			     uint64_t *edge)
{
	return 0;
}
#endif

/*
 * Pin @n frames from @pfn that sit in one block, touching only their pin
 * words.  Returns how many were pinned: fewer than @n only where a frame
 * is not allocated or its pin count is full.
 */
static size_t pin_run_locked(struct isim_phys *phys, uint64_t pfn, size_t n)
{
	uint32_t *w = pfn < phys->nframes ? pins_of(phys, pfn) : NULL;
	uint64_t first_pins = 0;
	size_t i;

	if (!w)
		return 0;
	for (i = pin_words_fast(w, n, 1, &first_pins); i < n; i++) {
		uint32_t v = w[i];

		if (!(v & PIN_ALLOCATED) || (v & PIN_COUNT_MAX) == PIN_COUNT_MAX)
			break;
		first_pins += !(v & PIN_COUNT_MAX);
		w[i] = v + 1;
	}
	phys->pinned_frames += first_pins;
	phys->total_pins += i;
	return i;
}

/*
 * Unpin @n frames from @pfn that sit in one block.  A frame whose last pin
 * goes is released if no plain reference is left; only orphans can be in
 * that state, so while there are none the frames are not looked at.
 */
static void unpin_run_locked(struct isim_phys *phys, uint64_t pfn, size_t n)
{
	uint32_t *w = pfn < phys->nframes ? pins_of(phys, pfn) : NULL;
	uint64_t unpinned = 0, last_pins = 0;
	size_t i = 0;

	/* With no orphan, no frame can be released here: words alone. */
	if (w && !phys->orphans)
		unpinned = i = pin_words_fast(w, n, -1, &last_pins);
	for (; i < n; i++) {
		uint32_t v = w ? w[i] : 0;
		struct frame *f;

		if (!(v & PIN_ALLOCATED) || !(v & PIN_COUNT_MAX)) {
			bad_release(phys, "unpin", pfn + i);
			continue;
		}
		w[i] = --v;
		unpinned++;
		if (v & PIN_COUNT_MAX)
			continue;
		last_pins++;
		if (!phys->orphans)
			continue;
		f = frame_of(phys, pfn + i);
		if (!f->u.used.refcount) {
			phys->orphans--;
			release_locked(phys, pfn + i, f);
		}
	}
	phys->pinned_frames -= last_pins;
	phys->total_pins -= unpinned;
}

/* Cut a range into block-sized pieces for the run helpers. */
static size_t block_left(const struct isim_phys *phys, uint64_t pfn,
			 size_t count)
{
	uint64_t left = (1ull << phys->max_order) -
			(pfn & ((1ull << phys->max_order) - 1));

	return count < left ? count : (size_t)left;
}

/* The length of the run of consecutive PFNs at @pfns inside one block. */
static size_t block_run(const struct isim_phys *phys, const uint64_t *pfns,
			size_t n)
{
	size_t run = isim_pfn_run_len(pfns, n);

	return block_left(phys, pfns[0], run);
}

/* Unpin pfns[0 .. n), a block run at a time. */
static void unpin_pfns_locked(struct isim_phys *phys, const uint64_t *pfns,
			      size_t n)
{
	for (size_t i = 0, run; i < n; i += run) {
		run = block_run(phys, pfns + i, n - i);
		unpin_run_locked(phys, pfns[i], run);
	}
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
	else if (!f->u.used.refcount++)
		phys->orphans--;	/* a pinned orphan is referenced again */
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

/* -ENOMEM if the frame after a short pin run is pinned full, else -EFAULT. */
static int pin_failure(const struct isim_phys *phys, uint64_t pfn)
{
	const uint32_t *w = pfn < phys->nframes ? pins_of(phys, pfn) : NULL;

	return w && (*w & PIN_ALLOCATED) ? -ENOMEM : -EFAULT;
}

/* Pin pfn .. pfn + count - 1, all or nothing. */
static int pin_range_locked(struct isim_phys *phys, uint64_t pfn, size_t count)
{
	size_t done = 0, run, got;
	int rc = 0;

	if (count > phys->nframes || pfn > phys->nframes - count)
		return -EFAULT;
	while (done < count) {
		run = block_left(phys, pfn + done, count - done);
		got = pin_run_locked(phys, pfn + done, run);
		done += got;
		if (got != run) {
			rc = pin_failure(phys, pfn + done);
			break;
		}
	}
	if (rc)
		for (size_t i = 0; i < done; i += run) {
			run = block_left(phys, pfn + i, done - i);
			unpin_run_locked(phys, pfn + i, run);
		}
	return rc;
}

static void unpin_range_locked(struct isim_phys *phys, uint64_t pfn,
			       size_t count)
{
	size_t run;

	for (size_t i = 0; i < count; i += run) {
		run = block_left(phys, pfn + i, count - i);
		unpin_run_locked(phys, pfn + i, run);
	}
}

int isim_phys_pin(struct isim_phys *phys, uint64_t pfn, size_t count)
{
	int rc;

	pthread_rwlock_wrlock(&phys->lock);
	rc = pin_range_locked(phys, pfn, count);
	pthread_rwlock_unlock(&phys->lock);
	return rc;
}

void isim_phys_unpin(struct isim_phys *phys, uint64_t pfn, size_t count)
{
	pthread_rwlock_wrlock(&phys->lock);
	unpin_range_locked(phys, pfn, count);
	pthread_rwlock_unlock(&phys->lock);
}

int isim_phys_pin_runs(struct isim_phys *phys,
		       const struct isim_pfn_run *runs, size_t nruns)
{
	size_t i;
	int rc = 0;

	pthread_rwlock_wrlock(&phys->lock);
	for (i = 0; i < nruns; i++) {
		rc = pin_range_locked(phys, runs[i].pfn, runs[i].npages);
		if (rc)
			break;
	}
	if (rc)
		while (i--)
			unpin_range_locked(phys, runs[i].pfn, runs[i].npages);
	pthread_rwlock_unlock(&phys->lock);
	return rc;
}

int isim_phys_pin_pfns(struct isim_phys *phys, const uint64_t *pfns, size_t n)
{
	size_t i, run, got;
	int rc = 0;

	pthread_rwlock_wrlock(&phys->lock);
	for (i = 0; i < n; i += run) {
		run = block_run(phys, pfns + i, n - i);
		got = pin_run_locked(phys, pfns[i], run);
		if (got != run) {
			rc = pin_failure(phys, pfns[i] + got);
			unpin_run_locked(phys, pfns[i], got);
			break;
		}
	}
	if (rc)
		unpin_pfns_locked(phys, pfns, i);
	pthread_rwlock_unlock(&phys->lock);
	return rc;
}

void isim_phys_unpin_pfns(struct isim_phys *phys, const uint64_t *pfns,
			  size_t n)
{
	pthread_rwlock_wrlock(&phys->lock);
	unpin_pfns_locked(phys, pfns, n);
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
		phys_pat_frame(phys, pfn, info);
		return;
	}
	memset(info, 0, sizeof(*info));
	info->state = f->state;
	if (f->state != ISIM_FRAME_ALLOCATED)
		return;
	info->pincount = *pins_of(phys, pfn) & PIN_COUNT_MAX;
	info->order = f->order;
	info->foreign = f->flags & FR_FOREIGN;
	/* As in the kernel, a pin holds a reference too. */
	info->refcount = f->u.used.refcount + info->pincount;
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
			phys_pat_frame(phys, pfn, &info);
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

/* ---------------------------------------------------- create/destroy */

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
	phys->broken_p = phys_broken_probability(cfg->frag);
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
	for (uint64_t b = 0; b < phys->nblocks; b++) {
		free(phys->blocks[b].frames);
		free(phys->blocks[b].pins);
	}
	free(phys->blocks);
	pthread_rwlock_destroy(&phys->lock);
	free(phys);
}
