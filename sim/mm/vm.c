/*
 * The process address space: maps program VAs and file pages to simulated
 * frames and pins them.  Regions from isim_mem_alloc are our own mmaps with
 * a PFN array filled at allocation, so pinning inside one is a copy of that
 * array plus a pin count per frame, with no system call.  Any other program
 * memory is checked once per call against the kernel's view of the VMAs
 * (the PROCMAP_QUERY ioctl on /proc/self/maps where the kernel has it, else
 * a parse of that file) and adopted page by page into a VA -> PFN hash with
 * the program's VA as the frame's host address; adopted frames then live as
 * long as the VA does (until isim_vm_forget).  File pages are keyed by
 * (dev, ino, page index) and reached through 2 MiB shared mappings of the
 * file; they keep their frame only while pinned.  Frames whose death we
 * must hear about (dead regions, file windows) carry an owner tag: the
 * phys layer calls us back when they are freed, always under our lock
 * because every put and unpin of such frames goes through this file.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/ioctl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sim/lib/fault.h"
#include "sim/lib/idr.h"
#include "sim/lib/trace.h"
#include "sim/machine.h"
#include "sim/mm/phys.h"
#include "sim/mm/vm.h"

#define SZ_2M (2ull << 20)
#define SZ_1G (1ull << 30)
/* Marks an entry created by the pin call in progress (undone on failure). */
#define TENTATIVE (1ull << 63)

/* --------------------------------------------- open-addressing hash */

struct vm_slot {
	uint64_t key;		/* key + 1; 0 marks an empty slot */
	uint64_t val;
};

struct vm_hash {
	struct vm_slot *slots;
	size_t cap;		/* power of two, or 0 */
	size_t count;
};

static inline size_t hash_home(uint64_t key, size_t cap)
{
	key *= 0x9e3779b97f4a7c15ull;
	return (size_t)(key ^ (key >> 29)) & (cap - 1);
}

static struct vm_slot *hash_find(const struct vm_hash *h, uint64_t key)
{
	if (!h->cap)
		return NULL;
	for (size_t i = hash_home(key, h->cap);; i = (i + 1) & (h->cap - 1)) {
		if (h->slots[i].key == key + 1)
			return &h->slots[i];
		if (!h->slots[i].key)
			return NULL;
	}
}

static void hash_put_slot(struct vm_hash *h, uint64_t key, uint64_t val)
{
	size_t i = hash_home(key, h->cap);

	while (h->slots[i].key)
		i = (i + 1) & (h->cap - 1);
	h->slots[i].key = key + 1;
	h->slots[i].val = val;
	h->count++;
}

static int hash_insert(struct vm_hash *h, uint64_t key, uint64_t val)
{
	if ((h->count + 1) * 2 > h->cap) {
		struct vm_hash big = { .cap = h->cap ? h->cap * 2 : 64 };

		big.slots = isim_kcalloc(big.cap, sizeof(*big.slots));
		if (!big.slots)
			return -ENOMEM;
		for (size_t i = 0; i < h->cap; i++)
			if (h->slots[i].key)
				hash_put_slot(&big, h->slots[i].key - 1,
					      h->slots[i].val);
		free(h->slots);
		*h = big;
	}
	hash_put_slot(h, key, val);
	return 0;
}

/* Linear probing without tombstones: pull later entries back instead. */
static void hash_remove(struct vm_hash *h, struct vm_slot *slot)
{
	size_t mask = h->cap - 1, i = (size_t)(slot - h->slots), j = i;

	for (;;) {
		size_t home;

		j = (j + 1) & mask;
		if (!h->slots[j].key)
			break;
		home = hash_home(h->slots[j].key - 1, h->cap);
		if (((j - home) & mask) >= ((j - i) & mask)) {
			h->slots[i] = h->slots[j];
			i = j;
		}
	}
	h->slots[i].key = 0;
	h->count--;
}

static void hash_fini(struct vm_hash *h)
{
	free(h->slots);
	memset(h, 0, sizeof(*h));
}

/* ------------------------------------------------------------ types */

enum owner_kind { OWN_REGION = 1, OWN_WINDOW };

struct owner {
	enum owner_kind kind;
	uint32_t id;		/* tag in the frames' owner field */
};

struct region {
	struct owner own;
	char *base;
	size_t len;
	size_t npages;
	enum isim_backing backing;
	uint64_t *pfns;
	/* Dead regions only: frames not yet freed, bytes not yet dropped. */
	bool dead;
	size_t alive;
	size_t run_start, run_len;
	struct region *next_dead;
};

struct vm_file;

struct window {
	struct owner own;
	struct vm_file *file;
	uint64_t first;		/* file page index of base */
	uint64_t npages;
	char *base;
	size_t len;
	size_t alive;		/* frames with host bytes in this window */
	bool writable;
	struct window *next;
};

struct vm_file {
	dev_t dev;
	ino_t ino;
	struct vm_hash pages;	/* page index -> PFN */
	struct window *windows;
	unsigned busy;		/* pin calls working on it */
	struct vm_file *next;
};

enum { MAPS_QUERY, MAPS_PARSE };

struct isim_vm {
	pthread_mutex_t lock;	/* everything below but the maps_* fields */
	struct isim_phys *phys;
	struct isim_tracer *trace;
	unsigned shift;
	size_t page_size;
	size_t host_page;
	struct isim_idr owners;
	struct region **regions;	/* live, sorted by base */
	size_t nregions, cap_regions;
	struct region *dead;
	struct vm_hash adopted;	/* VA >> (shift + 6) -> struct adopt_chunk */
	size_t nadopted;
	struct vm_file *files;
	pthread_mutex_t maps_lock;
	int maps_mode;
	int maps_fd;
	pid_t maps_pid;
};

#define vm_trace(vm, ...)                                                  \
	do {                                                               \
		if ((vm)->trace)                                           \
			isim_trace((vm)->trace, __VA_ARGS__);              \
	} while (0)

/* ---------------------------------------------------------- regions */

static inline uint64_t rbase(const struct region *r)
{
	return (uint64_t)(uintptr_t)r->base;
}

/* Index of the first live region whose base is above @va. */
static size_t region_upper(const struct isim_vm *vm, uint64_t va)
{
	size_t lo = 0, hi = vm->nregions;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (rbase(vm->regions[mid]) <= va)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static struct region *region_find(const struct isim_vm *vm, uint64_t va)
{
	size_t i = region_upper(vm, va);
	struct region *r;

	if (!i)
		return NULL;
	r = vm->regions[i - 1];
	return va - rbase(r) < r->len ? r : NULL;
}

static void flush_run(struct isim_vm *vm, struct region *r)
{
	if (!r->run_len)
		return;
	madvise(r->base + (r->run_start << vm->shift), r->run_len << vm->shift,
		MADV_DONTNEED);
	r->run_len = 0;
}

static void region_free(struct isim_vm *vm, struct region *r)
{
	munmap(r->base, r->len);
	if (r->own.id)
		isim_idr_erase(&vm->owners, r->own.id);
	free(r->pfns);
	free(r);
}

static void dead_release(struct isim_vm *vm, struct region *r)
{
	struct region **pp = &vm->dead;

	while (*pp != r)
		pp = &(*pp)->next_dead;
	*pp = r->next_dead;
	vm_trace(vm, "mm.region_gone", "va=%p len=%zu", (void *)r->base,
		 r->len);
	region_free(vm, r);
}

/* ------------------------------------------------------------ files */

static void file_release(struct isim_vm *vm, struct vm_file *file)
{
	struct vm_file **pp = &vm->files;

	while (*pp != file)
		pp = &(*pp)->next;
	*pp = file->next;
	hash_fini(&file->pages);
	free(file);
}

static void window_release(struct isim_vm *vm, struct window *w)
{
	struct vm_file *file = w->file;
	struct window **pp = &file->windows;

	while (*pp != w)
		pp = &(*pp)->next;
	*pp = w->next;
	munmap(w->base, w->len);
	isim_idr_erase(&vm->owners, w->own.id);
	free(w);
	if (!file->windows && !file->busy)
		file_release(vm, file);
}

/* ------------------------------------------------------ release hook */

/* Called by phys, under our lock and the phys lock, as a frame dies. */
static void vm_frame_released(void *arg, uint64_t pfn, uint32_t owner,
			      void *host)
{
	struct isim_vm *vm = arg;
	struct owner *o = isim_idr_load(&vm->owners, owner);

	if (!o)
		return;
	if (o->kind == OWN_REGION) {
		struct region *r = (struct region *)o;
		size_t idx = (size_t)((char *)host - r->base) >> vm->shift;

		/* A live region holds a reference on each of its frames. */
		if (!r->dead)
			return;
		if (idx == r->run_start + r->run_len && r->run_len) {
			r->run_len++;
		} else {
			flush_run(vm, r);
			r->run_start = idx;
			r->run_len = 1;
		}
		if (!--r->alive)
			dead_release(vm, r);
	} else {
		struct window *w = (struct window *)o;
		uint64_t off = (uint64_t)((char *)host - w->base);
		uint64_t idx = w->first + (off >> vm->shift);
		struct vm_slot *slot = hash_find(&w->file->pages, idx);

		if (slot && (slot->val & ~TENTATIVE) == pfn)
			hash_remove(&w->file->pages, slot);
		if (!--w->alive)
			window_release(vm, w);
	}
}

/* ------------------------------------------------------- VMA checks */

/* The kernel's struct procmap_query (Linux 6.11+); our headers may lack it. */
struct isim_procmap_query {
	uint64_t size;
	uint64_t query_flags;
	uint64_t query_addr;
	uint64_t vma_start;
	uint64_t vma_end;
	uint64_t vma_flags;
	uint64_t vma_page_size;
	uint64_t vma_offset;
	uint64_t inode;
	uint32_t dev_major;
	uint32_t dev_minor;
	uint32_t vma_name_size;
	uint32_t build_id_size;
	uint64_t vma_name_addr;
	uint64_t build_id_addr;
};

#define ISIM_PROCMAP_QUERY _IOWR('f', 17, struct isim_procmap_query)
#define ISIM_VMA_READ 0x1
#define ISIM_VMA_WRITE 0x2

/*
 * One ioctl per VMA instead of formatting the whole map.  The fd names the
 * mm it was opened in, so a child after fork() opens its own.
 */
static int vma_check_query(struct isim_vm *vm, uint64_t cur, uint64_t end,
			   bool write)
{
	pid_t pid = getpid();

	if (vm->maps_fd < 0 || vm->maps_pid != pid) {
		if (vm->maps_fd >= 0)
			close(vm->maps_fd);
		vm->maps_fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
		vm->maps_pid = pid;
		if (vm->maps_fd < 0)
			return -ENOTTY;
	}
	while (cur < end) {
		struct isim_procmap_query q = {
			.size = sizeof(q),
			.query_addr = cur,
		};

		if (ioctl(vm->maps_fd, ISIM_PROCMAP_QUERY, &q)) {
			if (errno == ENOTTY || errno == EINVAL ||
			    errno == EOPNOTSUPP)
				return -ENOTTY;
			return -EFAULT;
		}
		if (q.vma_start > cur || q.vma_end <= cur ||
		    !(q.vma_flags & ISIM_VMA_READ) ||
		    (write && !(q.vma_flags & ISIM_VMA_WRITE)))
			return -EFAULT;
		cur = q.vma_end;
	}
	return 0;
}

/* One maps line: 1 = range covered, 0 = keep going, -EFAULT = not. */
static int maps_line(const char *p, uint64_t *cur, uint64_t end, bool write)
{
	uint64_t lo, hi;
	char *q;

	lo = strtoull(p, &q, 16);
	if (*q != '-')
		return 0;
	hi = strtoull(q + 1, &q, 16);
	if (*q != ' ' || hi <= *cur)
		return 0;
	if (lo > *cur || q[1] != 'r' || (write && q[2] != 'w'))
		return -EFAULT;
	*cur = hi;
	return *cur >= end ? 1 : 0;
}

static int vma_check_parse(uint64_t cur, uint64_t end, bool write)
{
	char buf[4096];
	size_t have = 0;
	bool skip = false;
	int fd, rc = 0;

	fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -EFAULT;
	while (!rc) {
		ssize_t n = read(fd, buf + have, sizeof(buf) - 1 - have);
		char *p = buf, *nl;

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			buf[have] = 0;
			if (have && !skip)
				rc = maps_line(buf, &cur, end, write);
			break;
		}
		have += (size_t)n;
		buf[have] = 0;
		while (!rc &&
		       (nl = memchr(p, '\n', have - (size_t)(p - buf)))) {
			*nl = 0;
			if (!skip)
				rc = maps_line(p, &cur, end, write);
			skip = false;
			p = nl + 1;
		}
		have -= (size_t)(p - buf);
		memmove(buf, p, have);
		/* A line longer than the buffer: its head holds the range. */
		if (have == sizeof(buf) - 1) {
			if (!skip)
				rc = maps_line(buf, &cur, end, write);
			skip = true;
			have = 0;
		}
	}
	close(fd);
	return rc == 1 ? 0 : -EFAULT;
}

/* GUP's answer for [start, end): mapped, readable, writable if @write. */
static int vma_check(struct isim_vm *vm, uint64_t start, uint64_t end,
		     bool write)
{
	int rc = -ENOTTY;

	pthread_mutex_lock(&vm->maps_lock);
	if (vm->maps_mode == MAPS_QUERY) {
		rc = vma_check_query(vm, start, end, write);
		if (rc == -ENOTTY)
			vm->maps_mode = MAPS_PARSE;
	}
	pthread_mutex_unlock(&vm->maps_lock);
	if (rc == -ENOTTY)
		rc = vma_check_parse(start, end, write);
	return rc;
}

/* ---------------------------------------------------- adopted pages */

/*
 * Adopted pages are kept in chunks of 64 consecutive pages, one hash entry
 * per chunk, so that pinning a range walks an array instead of probing the
 * hash for every page.  An entry is PFN + 1 (0: no frame), with TENTATIVE
 * set while the call that adopted it may still undo it.
 */
#define CHUNK_SHIFT 6
#define CHUNK_PAGES (1u << CHUNK_SHIFT)

struct adopt_chunk {
	uint64_t ent[CHUNK_PAGES];
	unsigned count;
};

static inline uint64_t ent_pfn(uint64_t ent)
{
	return (ent & ~TENTATIVE) - 1;
}

static struct adopt_chunk *chunk_find(const struct isim_vm *vm, uint64_t vpn)
{
	struct vm_slot *slot = hash_find(&vm->adopted, vpn >> CHUNK_SHIFT);

	return slot ? (struct adopt_chunk *)(uintptr_t)slot->val : NULL;
}

/* Cached chunk lookup for walks over consecutive pages. */
struct chunk_cursor {
	uint64_t key;
	struct adopt_chunk *chunk;
};

#define CHUNK_CURSOR_INIT { UINT64_MAX, NULL }

static uint64_t *cursor_ent(const struct isim_vm *vm, struct chunk_cursor *cc,
			    uint64_t vpn)
{
	if (vpn >> CHUNK_SHIFT != cc->key) {
		cc->key = vpn >> CHUNK_SHIFT;
		cc->chunk = chunk_find(vm, vpn);
	}
	return cc->chunk ? &cc->chunk->ent[vpn & (CHUNK_PAGES - 1)] : NULL;
}

/* Forget the frame of @vpn, which has one; an emptied chunk goes. */
static void adopt_drop(struct isim_vm *vm, struct chunk_cursor *cc,
		       uint64_t vpn)
{
	uint64_t *ent = cursor_ent(vm, cc, vpn), pfn = ent_pfn(*ent);
	struct adopt_chunk *c = cc->chunk;

	*ent = 0;
	vm->nadopted--;
	if (!--c->count) {
		hash_remove(&vm->adopted,
			    hash_find(&vm->adopted, vpn >> CHUNK_SHIFT));
		free(c);
		cc->key = UINT64_MAX;
		cc->chunk = NULL;
	}
	isim_phys_put(vm->phys, pfn);
}

static int adopt_page(struct isim_vm *vm, struct chunk_cursor *cc,
		      uint64_t vpn, uint64_t *pfn)
{
	struct adopt_chunk *c;
	int rc;

	rc = isim_phys_alloc(vm->phys, 0, pfn);
	if (rc)
		return rc;
	/* Program memory may vanish under us: no DIRECT copies. */
	isim_phys_set_host_run(vm->phys, *pfn, 1,
			       (void *)(uintptr_t)(vpn << vm->shift), 0, 0);
	c = chunk_find(vm, vpn);
	if (!c) {
		c = isim_kzalloc(sizeof(*c));
		rc = c ? hash_insert(&vm->adopted, vpn >> CHUNK_SHIFT,
				     (uintptr_t)c) : -ENOMEM;
		if (rc) {
			free(c);
			isim_phys_put(vm->phys, *pfn);
			return rc;
		}
	}
	c->ent[vpn & (CHUNK_PAGES - 1)] = (*pfn + 1) | TENTATIVE;
	c->count++;
	vm->nadopted++;
	cc->key = vpn >> CHUNK_SHIFT;
	cc->chunk = c;
	return 0;
}

/* ---------------------------------------------------------- pinning */

/*
 * Pages [i, *end) of the range from @va lie in one live region (returned)
 * or, when NULL is returned, outside every live region.
 */
static struct region *stretch(const struct isim_vm *vm, uint64_t va,
			      size_t i, size_t npages, size_t *end)
{
	uint64_t cur = va + ((uint64_t)i << vm->shift), left = npages - i, n;
	size_t at = region_upper(vm, cur);
	struct region *r = at ? vm->regions[at - 1] : NULL;

	if (r && cur - rbase(r) < r->len) {
		n = (rbase(r) + r->len - cur) >> vm->shift;
	} else {
		r = NULL;
		n = at < vm->nregions ?
			    (rbase(vm->regions[at]) - cur) >> vm->shift : left;
	}
	*end = i + (size_t)(n < left ? n : left);
	return r;
}

static bool dead_overlaps(const struct isim_vm *vm, uint64_t start,
			  uint64_t end)
{
	for (struct region *r = vm->dead; r; r = r->next_dead) {
		uint64_t base = rbase(r);

		if (base < end && start < base + r->len)
			return true;
	}
	return false;
}

/*
 * Adopted entries made by the pin call in progress over [va, npages) are
 * committed (TENTATIVE cleared) or, with @undo, forgotten again.
 */
static void settle_adopted(struct isim_vm *vm, uint64_t va, size_t npages,
			   bool undo)
{
	struct chunk_cursor cc = CHUNK_CURSOR_INIT;
	size_t i = 0, end;

	while (i < npages) {
		if (stretch(vm, va, i, npages, &end)) {
			i = end;
			continue;
		}
		for (; i < end; i++) {
			uint64_t vpn = (va >> vm->shift) + i;
			uint64_t *ent = cursor_ent(vm, &cc, vpn);

			if (!ent || !(*ent & TENTATIVE))
				continue;
			if (undo)
				adopt_drop(vm, &cc, vpn);
			else
				*ent &= ~TENTATIVE;
		}
	}
}

static int pin_slow(struct isim_vm *vm, uint64_t va, size_t npages,
		    uint64_t *pfns)
{
	struct chunk_cursor cc = CHUNK_CURSOR_INIT;
	size_t i = 0, end, fresh = 0;
	struct region *r;
	int rc = 0;

	while (i < npages) {
		uint64_t cur = va + ((uint64_t)i << vm->shift);

		r = stretch(vm, va, i, npages, &end);
		if (r) {
			size_t off = (size_t)(cur - rbase(r)) >> vm->shift;

			memcpy(pfns + i, r->pfns + off,
			       (end - i) * sizeof(*pfns));
			i = end;
			continue;
		}
		if (dead_overlaps(vm, cur, va + ((uint64_t)end << vm->shift))) {
			rc = -EFAULT;
			goto undo;
		}
		for (; i < end; i++) {
			uint64_t vpn = (va >> vm->shift) + i;
			uint64_t *ent = cursor_ent(vm, &cc, vpn);

			if (ent && *ent) {
				pfns[i] = ent_pfn(*ent);
				continue;
			}
			rc = adopt_page(vm, &cc, vpn, &pfns[i]);
			if (rc)
				goto undo;
			fresh++;
		}
	}
	rc = isim_phys_pin_pfns(vm->phys, pfns, npages);
	if (rc)
		goto undo;
	if (fresh)
		settle_adopted(vm, va, npages, false);
	return 0;
undo:
	if (fresh)
		settle_adopted(vm, va, i, true);
	return rc;
}

int isim_vm_pin(struct isim_vm *vm, uint64_t va, size_t npages, bool write,
		uint64_t *pfns)
{
	uint64_t end;
	struct region *r;
	int rc;

	if (!npages)
		return 0;
	if (va & (vm->page_size - 1))
		return -EINVAL;
	if (npages > (UINT64_MAX - va) >> vm->shift)
		return -EFAULT;
	end = va + ((uint64_t)npages << vm->shift);
	/* Where the kernel's pin_user_pages can fail for want of memory. */
	if (isim_should_fail())
		return -ENOMEM;

	pthread_mutex_lock(&vm->lock);
	r = region_find(vm, va);
	if (r && end - rbase(r) <= r->len) {
		size_t off = (size_t)(va - rbase(r)) >> vm->shift;

		memcpy(pfns, r->pfns + off, npages * sizeof(*pfns));
		rc = isim_phys_pin_pfns(vm->phys, pfns, npages);
		pthread_mutex_unlock(&vm->lock);
		goto out;
	}
	pthread_mutex_unlock(&vm->lock);

	rc = vma_check(vm, va, end, write);
	if (rc)
		goto out;
	pthread_mutex_lock(&vm->lock);
	rc = pin_slow(vm, va, npages, pfns);
	pthread_mutex_unlock(&vm->lock);
out:
	vm_trace(vm, "mm.pin", "va=%#" PRIx64 " n=%zu write=%d rc=%d", va,
		 npages, write, rc);
	return rc;
}

static void flush_dead(struct isim_vm *vm)
{
	for (struct region *r = vm->dead; r; r = r->next_dead)
		flush_run(vm, r);
}

void isim_vm_unpin(struct isim_vm *vm, const uint64_t *pfns, size_t npages)
{
	if (!npages)
		return;
	pthread_mutex_lock(&vm->lock);
	isim_phys_unpin_pfns(vm->phys, pfns, npages);
	flush_dead(vm);
	pthread_mutex_unlock(&vm->lock);
	vm_trace(vm, "mm.unpin", "pfn=%#" PRIx64 " n=%zu", pfns[0], npages);
}

void isim_vm_unpin_run(struct isim_vm *vm, uint64_t pfn, size_t npages)
{
	if (!npages)
		return;
	pthread_mutex_lock(&vm->lock);
	isim_phys_unpin(vm->phys, pfn, npages);
	flush_dead(vm);
	pthread_mutex_unlock(&vm->lock);
	vm_trace(vm, "mm.unpin", "pfn=%#" PRIx64 " n=%zu", pfn, npages);
}

/* ------------------------------------------------------- file pages */

static struct window *window_find(struct vm_file *file, uint64_t idx)
{
	for (struct window *w = file->windows; w; w = w->next)
		if (idx >= w->first && idx - w->first < w->npages)
			return w;
	return NULL;
}

static int window_new(struct isim_vm *vm, struct vm_file *file, int fd,
		      uint64_t idx, bool writable, struct window **out)
{
	size_t len = SZ_2M > vm->page_size ? SZ_2M : vm->page_size;
	uint64_t first = idx & ~((uint64_t)(len >> vm->shift) - 1);
	struct window *w;
	void *base = MAP_FAILED;
	int rc;

	if (isim_should_fail())
		return -ENOMEM;
	w = isim_kzalloc(sizeof(*w));
	if (!w)
		return -ENOMEM;
	if (writable)
		base = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
			    (off_t)(first << vm->shift));
	if (base == MAP_FAILED) {
		/* Sealed against writes, or opened read-only. */
		writable = false;
		base = mmap(NULL, len, PROT_READ, MAP_SHARED, fd,
			    (off_t)(first << vm->shift));
	}
	if (base == MAP_FAILED) {
		rc = -EFAULT;
		goto err_free;
	}
	w->own.kind = OWN_WINDOW;
	rc = isim_idr_alloc(&vm->owners, w, 1, 0x7fffffff, &w->own.id);
	if (rc)
		goto err_unmap;
	w->file = file;
	w->first = first;
	w->npages = len >> vm->shift;
	w->base = base;
	w->len = len;
	w->writable = writable;
	w->next = file->windows;
	file->windows = w;
	*out = w;
	return 0;
err_unmap:
	munmap(base, len);
err_free:
	free(w);
	return rc;
}

static int file_page_new(struct isim_vm *vm, struct vm_file *file, int fd,
			 uint64_t idx, bool writable, uint64_t *pfn)
{
	struct window *w = window_find(file, idx);
	int rc;

	if (!w) {
		rc = window_new(vm, file, fd, idx, writable, &w);
		if (rc)
			return rc;
	}
	rc = isim_phys_alloc(vm->phys, 0, pfn);
	if (rc) {
		if (!w->alive)
			window_release(vm, w);
		return rc;
	}
	/* From here the frame's death (the put below) settles the window. */
	w->alive++;
	isim_phys_set_host_run(vm->phys, *pfn, 1,
			       w->base + ((idx - w->first) << vm->shift),
			       w->writable ? 0 : ISIM_HOST_RDONLY, w->own.id);
	rc = hash_insert(&file->pages, idx, *pfn | TENTATIVE);
	if (rc)
		isim_phys_put(vm->phys, *pfn);
	return rc;
}

static int file_get(struct isim_vm *vm, const struct stat *st,
		    struct vm_file **out)
{
	struct vm_file *file;

	for (file = vm->files; file; file = file->next)
		if (file->dev == st->st_dev && file->ino == st->st_ino)
			goto found;
	file = isim_kzalloc(sizeof(*file));
	if (!file)
		return -ENOMEM;
	file->dev = st->st_dev;
	file->ino = st->st_ino;
	file->next = vm->files;
	vm->files = file;
found:
	file->busy++;
	*out = file;
	return 0;
}

static void file_put(struct isim_vm *vm, struct vm_file *file)
{
	if (!--file->busy && !file->windows)
		file_release(vm, file);
}

/*
 * Commit or undo the pages this call gave frames to.  A committed page
 * drops its allocation reference: from now on only pins keep it.  An
 * undone one drops it too, and dies, which the release hook settles.
 */
static void settle_file(struct isim_vm *vm, struct vm_file *file,
			uint64_t first, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct vm_slot *slot = hash_find(&file->pages, first + i);
		uint64_t pfn;

		if (!slot || !(slot->val & TENTATIVE))
			continue;
		pfn = slot->val & ~TENTATIVE;
		slot->val = pfn;
		isim_phys_put(vm->phys, pfn);
	}
}

int isim_vm_pin_file(struct isim_vm *vm, int fd, uint64_t offset,
		     size_t npages, bool write, uint64_t *pfns)
{
	uint64_t first, fpages;
	struct vm_file *file;
	struct stat st;
	bool writable;
	size_t i = 0;
	int fl, rc;

	if (fstat(fd, &st))
		return errno == EBADF ? -EBADF : -EINVAL;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	if (offset & (vm->page_size - 1))
		return -EINVAL;
	if (!npages)
		return 0;
	first = offset >> vm->shift;
	fpages = ((uint64_t)st.st_size + vm->page_size - 1) >> vm->shift;
	if (first >= fpages || npages > fpages - first)
		return -EFAULT;
	fl = fcntl(fd, F_GETFL);
	writable = fl >= 0 && (fl & O_ACCMODE) == O_RDWR;
	if (write && !writable)
		return -EFAULT;
	if (isim_should_fail())
		return -ENOMEM;

	pthread_mutex_lock(&vm->lock);
	rc = file_get(vm, &st, &file);
	if (rc)
		goto out_unlock;
	for (i = 0; i < npages; i++) {
		struct vm_slot *slot = hash_find(&file->pages, first + i);

		if (slot)
			pfns[i] = slot->val & ~TENTATIVE;
		else
			rc = file_page_new(vm, file, fd, first + i, writable,
					   &pfns[i]);
		if (rc)
			break;
		/* A window mapped through a read-only fd earlier. */
		if (write && !window_find(file, first + i)->writable) {
			rc = -EFAULT;
			i++;
			break;
		}
	}
	if (!rc)
		rc = isim_phys_pin_pfns(vm->phys, pfns, npages);
	settle_file(vm, file, first, i);
	file_put(vm, file);
out_unlock:
	pthread_mutex_unlock(&vm->lock);
	vm_trace(vm, "mm.pin_file",
		 "ino=%" PRIu64 " off=%#" PRIx64 " n=%zu rc=%d",
		 (uint64_t)st.st_ino, offset, npages, rc);
	return rc;
}

/* ---------------------------------------------------------- lookups */

int isim_va_to_pfn(struct isim_vm *vm, uint64_t va, uint64_t *pfn)
{
	struct chunk_cursor cc = CHUNK_CURSOR_INIT;
	struct region *r;
	uint64_t *ent;
	int rc = 0;

	pthread_mutex_lock(&vm->lock);
	r = region_find(vm, va);
	if (r) {
		*pfn = r->pfns[(va - rbase(r)) >> vm->shift];
	} else if ((ent = cursor_ent(vm, &cc, va >> vm->shift)) && *ent) {
		*pfn = ent_pfn(*ent);
	} else {
		rc = -ENOENT;
	}
	pthread_mutex_unlock(&vm->lock);
	return rc;
}

static void forget_locked(struct isim_vm *vm, uint64_t va, size_t npages)
{
	struct chunk_cursor cc = CHUNK_CURSOR_INIT;

	for (size_t i = 0; i < npages && vm->nadopted; i++) {
		uint64_t vpn = (va >> vm->shift) + i;
		uint64_t *ent = cursor_ent(vm, &cc, vpn);

		if (ent && *ent)
			adopt_drop(vm, &cc, vpn);
	}
}

void isim_vm_forget(struct isim_vm *vm, uint64_t va, size_t len)
{
	uint64_t first = va & ~((uint64_t)vm->page_size - 1);
	uint64_t last;

	if (!len || va + len < va)
		return;
	last = (va + len - 1) >> vm->shift;
	pthread_mutex_lock(&vm->lock);
	forget_locked(vm, first, (size_t)(last - (first >> vm->shift) + 1));
	pthread_mutex_unlock(&vm->lock);
}

void isim_vm_stats(struct isim_vm *vm, struct isim_vm_stats *st)
{
	memset(st, 0, sizeof(*st));
	pthread_mutex_lock(&vm->lock);
	st->regions = vm->nregions;
	for (struct region *r = vm->dead; r; r = r->next_dead)
		st->dead_regions++;
	st->adopted = vm->nadopted;
	for (struct vm_file *f = vm->files; f; f = f->next)
		st->file_pages += f->pages.count;
	pthread_mutex_unlock(&vm->lock);
}

/* ---------------------------------------------------------- regions */

struct backing_geom {
	size_t unit;		/* length granule */
	size_t align;		/* VA alignment */
	unsigned order;		/* folio order; 0 for 4K */
	bool fallback;		/* may fall back to order 0 */
};

static int backing_geom(const struct isim_vm *vm, enum isim_backing backing,
			struct backing_geom *g)
{
	size_t ps = vm->page_size;

	switch (backing) {
	case ISIM_BACKING_4K:
		*g = (struct backing_geom){ ps, ps, 0, false };
		return 0;
	case ISIM_BACKING_THP:
		*g = (struct backing_geom){ ps, SZ_2M, 21 - vm->shift, true };
		return 0;
	case ISIM_BACKING_HUGETLB_2M:
		*g = (struct backing_geom){ SZ_2M, SZ_2M, 21 - vm->shift,
					    false };
		return 0;
	case ISIM_BACKING_HUGETLB_1G:
		*g = (struct backing_geom){ SZ_1G, SZ_1G, 30 - vm->shift,
					    false };
		return 0;
	}
	return -EINVAL;
}

/* Reserve (never touch) @len bytes of host memory aligned to @align. */
static void *host_map(const struct isim_vm *vm, size_t len, size_t align)
{
	size_t slack = align > vm->host_page ? align : 0;
	char *raw, *base;

	raw = mmap(NULL, len + slack, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (raw == MAP_FAILED)
		return NULL;
	if (!slack)
		return raw;
	base = (char *)(((uintptr_t)raw + align - 1) & ~(uintptr_t)(align - 1));
	if (base > raw)
		munmap(raw, (size_t)(base - raw));
	if (raw + slack > base)
		munmap(base + len, (size_t)(raw + slack - base));
	return base;
}

static int region_frames(struct isim_vm *vm, struct region *r,
			 const struct backing_geom *g)
{
	size_t folio = (size_t)1 << g->order, i = 0;
	uint64_t pfn;
	int rc = 0;

	while (i < r->npages) {
		if (g->order && r->npages - i >= folio) {
			rc = isim_phys_alloc(vm->phys, g->order, &pfn);
			if (!rc) {
				for (size_t j = 0; j < folio; j++)
					r->pfns[i + j] = pfn + j;
				i += folio;
				continue;
			}
			if (!g->fallback)
				break;
			for (size_t end = i + folio; i < end; i++) {
				rc = isim_phys_alloc(vm->phys, 0, &r->pfns[i]);
				if (rc)
					goto out;
			}
			continue;
		}
		rc = isim_phys_alloc(vm->phys, 0, &r->pfns[i]);
		if (rc)
			break;
		i++;
	}
out:
	if (rc)
		isim_phys_put_pfns(vm->phys, r->pfns, i);
	return rc;
}

static int region_insert(struct isim_vm *vm, struct region *r)
{
	size_t at;

	if (vm->nregions == vm->cap_regions) {
		size_t cap = vm->cap_regions ? vm->cap_regions * 2 : 16;
		struct region **p = isim_kcalloc(cap, sizeof(*p));

		if (!p)
			return -ENOMEM;
		if (vm->nregions)
			memcpy(p, vm->regions, vm->nregions * sizeof(*p));
		free(vm->regions);
		vm->regions = p;
		vm->cap_regions = cap;
	}
	at = region_upper(vm, rbase(r));
	memmove(&vm->regions[at + 1], &vm->regions[at],
		(vm->nregions - at) * sizeof(*vm->regions));
	vm->regions[at] = r;
	vm->nregions++;
	return 0;
}

int isim_vm_alloc(struct isim_vm *vm, size_t len, enum isim_backing backing,
		  void **out)
{
	struct backing_geom g;
	struct region *r;
	int rc;

	rc = backing_geom(vm, backing, &g);
	if (rc)
		return rc;
	if (!len || len > SIZE_MAX / 4)
		return -EINVAL;
	len = (len + g.unit - 1) & ~(g.unit - 1);
	if (isim_should_fail())
		return -ENOMEM;
	r = isim_kzalloc(sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->own.kind = OWN_REGION;
	r->len = len;
	r->npages = len >> vm->shift;
	r->backing = backing;
	r->pfns = isim_kcalloc(r->npages, sizeof(*r->pfns));
	if (!r->pfns) {
		rc = -ENOMEM;
		goto err_free;
	}
	r->base = host_map(vm, len, g.align);
	if (!r->base) {
		rc = -ENOMEM;
		goto err_free;
	}
	rc = region_frames(vm, r, &g);
	if (rc)
		goto err_free;

	pthread_mutex_lock(&vm->lock);
	rc = isim_idr_alloc(&vm->owners, r, 1, 0x7fffffff, &r->own.id);
	if (rc)
		goto err_unlock;
	rc = region_insert(vm, r);
	if (rc)
		goto err_unlock;
	isim_phys_set_host(vm->phys, r->pfns, r->npages, r->base,
			   ISIM_HOST_DIRECT, r->own.id);
	/* Whatever was adopted here before was unmapped by the program. */
	forget_locked(vm, rbase(r), r->npages);
	pthread_mutex_unlock(&vm->lock);
	vm_trace(vm, "mm.alloc", "va=%p len=%zu backing=%d", (void *)r->base,
		 len, (int)backing);
	*out = r->base;
	return 0;

err_unlock:
	pthread_mutex_unlock(&vm->lock);
	isim_phys_put_pfns(vm->phys, r->pfns, r->npages);
err_free:
	/* region_free also erases the owner ID if it got one. */
	if (r->base) {
		pthread_mutex_lock(&vm->lock);
		region_free(vm, r);
		pthread_mutex_unlock(&vm->lock);
		return rc;
	}
	free(r->pfns);
	free(r);
	return rc;
}

int isim_vm_free(struct isim_vm *vm, void *va)
{
	size_t at;
	struct region *r;

	pthread_mutex_lock(&vm->lock);
	at = region_upper(vm, (uint64_t)(uintptr_t)va);
	if (!at || vm->regions[at - 1]->base != va) {
		pthread_mutex_unlock(&vm->lock);
		return -EINVAL;
	}
	r = vm->regions[at - 1];
	memmove(&vm->regions[at - 1], &vm->regions[at],
		(vm->nregions - at) * sizeof(*vm->regions));
	vm->nregions--;
	/*
	 * Dead from here: pinned frames outlive the region and keep its host
	 * mapping; the extra count stops the release hook from freeing the
	 * region while we are still dropping its references.
	 */
	r->dead = true;
	r->alive = r->npages + 1;
	r->next_dead = vm->dead;
	vm->dead = r;
	isim_phys_put_pfns(vm->phys, r->pfns, r->npages);
	vm_trace(vm, "mm.free", "va=%p len=%zu pinned=%zu", va, r->len,
		 r->alive - 1);
	if (!--r->alive)
		dead_release(vm, r);
	else
		flush_run(vm, r);
	pthread_mutex_unlock(&vm->lock);
	return 0;
}

/* ---------------------------------------------------- create/destroy */

int isim_vm_create(struct isim_phys *phys, struct isim_tracer *trace,
		   struct isim_vm **out)
{
	struct isim_vm *vm;

	vm = isim_kzalloc(sizeof(*vm));
	if (!vm)
		return -ENOMEM;
	vm->phys = phys;
	vm->trace = trace;
	vm->page_size = isim_phys_page_size(phys);
	vm->shift = isim_phys_page_shift(phys);
	vm->host_page = (size_t)sysconf(_SC_PAGESIZE);
	vm->maps_fd = -1;
	vm->maps_mode = MAPS_QUERY;
	isim_idr_init(&vm->owners);
	pthread_mutex_init(&vm->lock, NULL);
	pthread_mutex_init(&vm->maps_lock, NULL);
	isim_phys_set_release(phys, vm_frame_released, vm);
	*out = vm;
	return 0;
}

/*
 * Frames that the layers above leaked (still pinned) outlive us: make them
 * bytes-less rather than pointing into mappings we are about to remove.
 */
static void orphan_frames(struct isim_vm *vm, const uint64_t *pfns, size_t n,
			  uint32_t owner)
{
	struct isim_frame_info fi;

	for (size_t i = 0; i < n; i++)
		if (!isim_phys_frame(vm->phys, pfns[i], &fi) &&
		    fi.state == ISIM_FRAME_ALLOCATED && fi.owner == owner)
			isim_phys_set_host_run(vm->phys, pfns[i], 1, NULL, 0,
					       0);
}

void isim_vm_destroy(struct isim_vm *vm)
{
	struct region *r;

	if (!vm)
		return;
	/*
	 * Frames still pinned now are leaks of the layers above; they stay
	 * allocated (isim_phys_check shows them) but we stop hearing of them.
	 */
	isim_phys_set_release(vm->phys, NULL, NULL);
	for (size_t i = 0; i < vm->nregions; i++) {
		r = vm->regions[i];
		isim_phys_put_pfns(vm->phys, r->pfns, r->npages);
		region_free(vm, r);
	}
	while ((r = vm->dead)) {
		vm->dead = r->next_dead;
		orphan_frames(vm, r->pfns, r->npages, r->own.id);
		region_free(vm, r);
	}
	for (size_t i = 0; i < vm->adopted.cap; i++) {
		struct adopt_chunk *c;

		if (!vm->adopted.slots[i].key)
			continue;
		c = (struct adopt_chunk *)(uintptr_t)vm->adopted.slots[i].val;
		for (unsigned j = 0; j < CHUNK_PAGES; j++)
			if (c->ent[j])
				isim_phys_put(vm->phys, ent_pfn(c->ent[j]));
		free(c);
	}
	hash_fini(&vm->adopted);
	while (vm->files) {
		struct vm_file *file = vm->files;

		for (size_t i = 0; i < file->pages.cap; i++) {
			const struct vm_slot *slot = &file->pages.slots[i];
			uint64_t pfn = slot->val & ~TENTATIVE;
			struct window *w;

			if (!slot->key)
				continue;
			w = window_find(file, slot->key - 1);
			if (w)
				orphan_frames(vm, &pfn, 1, w->own.id);
		}
		while (file->windows) {
			struct window *w = file->windows;

			file->windows = w->next;
			munmap(w->base, w->len);
			free(w);
		}
		vm->files = file->next;
		hash_fini(&file->pages);
		free(file);
	}
	free(vm->regions);
	isim_idr_destroy(&vm->owners);
	if (vm->maps_fd >= 0)
		close(vm->maps_fd);
	pthread_mutex_destroy(&vm->maps_lock);
	pthread_mutex_destroy(&vm->lock);
	free(vm);
}

/* ------------------------------------------------- public machine API */

int isim_mem_alloc(struct isim_machine *m, size_t len,
		   enum isim_backing backing, void **out)
{
	return isim_vm_alloc(m->vm, len, backing, out);
}

int isim_mem_free(struct isim_machine *m, void *va)
{
	return isim_vm_free(m->vm, va);
}
