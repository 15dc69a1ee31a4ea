/*
 * What sim/mm/vm.c, adopt.c, filepages.c and vm_hash.c share and nothing
 * else may see: the vm's internal structures (regions, adopted-page
 * chunks, file windows) and the calls those files make into each other.
 * Everything here runs under the vm lock unless it says otherwise.
 */
#ifndef ISIM_MM_VM_PRIVATE_H
#define ISIM_MM_VM_PRIVATE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "sim/lib/idr.h"
#include "sim/lib/trace.h"
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

struct vm_slot *vm_hash_find(const struct vm_hash *h, uint64_t key);
int vm_hash_insert(struct vm_hash *h, uint64_t key, uint64_t val);
void vm_hash_remove(struct vm_hash *h, struct vm_slot *slot);
void vm_hash_fini(struct vm_hash *h);

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
	isim_vm_folio_fn folio_fn;	/* NULL: all program pages are small */
	void *folio_arg;
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

/* --------------------------------------- adopted pages (adopt.c) */

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

/* Cached chunk lookup for walks over consecutive pages. */
struct chunk_cursor {
	uint64_t key;
	struct adopt_chunk *chunk;
};

#define CHUNK_CURSOR_INIT { UINT64_MAX, NULL }

/* Takes the maps lock, not the vm lock. */
int vm_vma_check(struct isim_vm *vm, uint64_t start, uint64_t end,
		 bool write);
uint64_t *vm_cursor_ent(const struct isim_vm *vm, struct chunk_cursor *cc,
			uint64_t vpn);
void vm_adopt_drop(struct isim_vm *vm, struct chunk_cursor *cc, uint64_t vpn);
int vm_adopt_page(struct isim_vm *vm, struct chunk_cursor *cc, uint64_t vpn,
		  uint64_t *pfn);
/* Adopted pages in [va, va + npages pages) forget their frames. */
void vm_forget_locked(struct isim_vm *vm, uint64_t va, size_t npages);

/* ------------------------------------------- file pages (filepages.c) */

struct window *vm_window_find(struct vm_file *file, uint64_t idx);
/* Unmap a window whose last frame died; an idle file without windows goes. */
void vm_window_release(struct isim_vm *vm, struct window *w);

#endif
