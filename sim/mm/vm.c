/*
 * The process address space: maps program VAs and file pages to simulated
 * frames and pins them.  Regions from isim_mem_alloc are our own mmaps with
 * a PFN array filled at allocation, so pinning inside one is a copy of that
 * array plus a pin count per frame, with no system call; this file owns
 * them, the pin and unpin calls, and the vm's life.  Other program memory
 * is adopted (adopt.c), file pages come from windows (filepages.c).
 * Frames whose death we must hear about (dead regions, file windows) carry
 * an owner tag: the phys layer calls us back when they are freed, always
 * under our lock because every put and unpin of such frames goes through
 * the vm.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "sim/lib/fault.h"
#include "sim/lib/idr.h"
#include "sim/lib/trace.h"
#include "sim/machine.h"
#include "sim/mm/phys.h"
#include "sim/mm/vm.h"
#include "sim/mm/vm_private.h"

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
		struct vm_slot *slot = vm_hash_find(&w->file->pages, idx);

		if (slot && (slot->val & ~TENTATIVE) == pfn)
			vm_hash_remove(&w->file->pages, slot);
		if (!--w->alive)
			vm_window_release(vm, w);
	}
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
			uint64_t *ent = vm_cursor_ent(vm, &cc, vpn);

			if (!ent || !(*ent & TENTATIVE))
				continue;
			if (undo)
				vm_adopt_drop(vm, &cc, vpn);
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
			uint64_t *ent = vm_cursor_ent(vm, &cc, vpn);

			if (ent && *ent) {
				pfns[i] = ent_pfn(*ent);
				continue;
			}
			rc = vm_adopt_page(vm, &cc, vpn, &pfns[i]);
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

/*
 * The checks every pin starts with; 1 when [va, va + npages pages) lies
 * in one simulator region (the vm lock then held and *@r set), 0 when
 * it does not (no lock held), or -errno.
 */
static int pin_begin(struct isim_vm *vm, uint64_t va, size_t npages,
		     struct region **r)
{
	uint64_t end;

	if (va & (vm->page_size - 1))
		return -EINVAL;
	if (npages > (UINT64_MAX - va) >> vm->shift)
		return -EFAULT;
	end = va + ((uint64_t)npages << vm->shift);
	/* Where the kernel's pin_user_pages can fail for want of memory. */
	if (isim_should_fail())
		return -ENOMEM;
	pthread_mutex_lock(&vm->lock);
	*r = region_find(vm, va);
	if (*r && end - rbase(*r) <= (*r)->len)
		return 1;
	pthread_mutex_unlock(&vm->lock);
	return 0;
}

/* Pin memory outside the regions: a VMA check, then adoption. */
static int pin_program(struct isim_vm *vm, uint64_t va, size_t npages,
		       bool write, uint64_t *pfns)
{
	int rc = vm_vma_check(vm, va, va + ((uint64_t)npages << vm->shift),
			      write);

	if (rc)
		return rc;
	pthread_mutex_lock(&vm->lock);
	rc = pin_slow(vm, va, npages, pfns);
	pthread_mutex_unlock(&vm->lock);
	return rc;
}

/*
 * Both pin calls: the PFNs into @pfns, and when @runs is given, also as
 * runs (a region's frames then go straight from its own PFN array into
 * runs, without a copy into @pfns).
 */
static int vm_pin(struct isim_vm *vm, uint64_t va, size_t npages, bool write,
		  uint64_t *pfns, struct isim_pfn_run *runs, size_t *nruns)
{
	struct region *r;
	int rc;

	if (!npages)
		return 0;
	rc = pin_begin(vm, va, npages, &r);
	if (rc < 0)
		return rc;
	if (rc == 1) {
		const uint64_t *own = r->pfns +
				      ((size_t)(va - rbase(r)) >> vm->shift);

		if (runs) {
			*nruns = isim_pfns_to_runs(own, npages, runs, npages);
			rc = isim_phys_pin_runs(vm->phys, runs, *nruns);
		} else {
			memcpy(pfns, own, npages * sizeof(*pfns));
			rc = isim_phys_pin_pfns(vm->phys, pfns, npages);
		}
		pthread_mutex_unlock(&vm->lock);
	} else {
		rc = pin_program(vm, va, npages, write, pfns);
		if (!rc && runs)
			*nruns = isim_pfns_to_runs(pfns, npages, runs, npages);
	}
	vm_trace(vm, "mm.pin", "va=%#" PRIx64 " n=%zu write=%d rc=%d", va,
		 npages, write, rc);
	return rc;
}

int isim_vm_pin(struct isim_vm *vm, uint64_t va, size_t npages, bool write,
		uint64_t *pfns)
{
	return vm_pin(vm, va, npages, write, pfns, NULL, NULL);
}

int isim_vm_pin_runs(struct isim_vm *vm, uint64_t va, size_t npages,
		     bool write, uint64_t *scratch,
		     struct isim_pfn_run *runs, size_t *nruns)
{
	int rc;

	*nruns = 0;
	rc = vm_pin(vm, va, npages, write, scratch, runs, nruns);
	if (rc)
		*nruns = 0;
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
	} else if ((ent = vm_cursor_ent(vm, &cc, va >> vm->shift)) && *ent) {
		*pfn = ent_pfn(*ent);
	} else {
		rc = -ENOENT;
	}
	pthread_mutex_unlock(&vm->lock);
	return rc;
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
	vm_forget_locked(vm, rbase(r), r->npages);
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
	vm_hash_fini(&vm->adopted);
	while (vm->files) {
		struct vm_file *file = vm->files;

		for (size_t i = 0; i < file->pages.cap; i++) {
			const struct vm_slot *slot = &file->pages.slots[i];
			uint64_t pfn = slot->val & ~TENTATIVE;
			struct window *w;

			if (!slot->key)
				continue;
			w = vm_window_find(file, slot->key - 1);
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
		vm_hash_fini(&file->pages);
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
