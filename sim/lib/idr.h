/*
 * Sparse integer-ID table that always hands out the lowest free ID, the way
 * the kernel's allocating xarray does for iommufd object IDs.  A 64-ary radix
 * tree whose nodes carry "child is full" bitmaps makes both the lowest-free
 * search and lookups O(log64 n).  Entries must be non-NULL; callers use a
 * marker pointer for reserved-but-invisible slots.  No locking: the owner
 * serialises access.
 */
#ifndef ISIM_LIB_IDR_H
#define ISIM_LIB_IDR_H

#include <stdbool.h>
#include <stdint.h>

struct isim_idr_node;

struct isim_idr {
	struct isim_idr_node *root;
	uint32_t count;
};

void isim_idr_init(struct isim_idr *idr);
/* Frees the tree itself; entries are the caller's. */
void isim_idr_destroy(struct isim_idr *idr);

/* Store @entry at the lowest free ID in [min, max]: 0, -EBUSY or -ENOMEM. */
int isim_idr_alloc(struct isim_idr *idr, void *entry, uint32_t min,
		   uint32_t max, uint32_t *out_id);
/* The entry at @id, or NULL. */
void *isim_idr_load(const struct isim_idr *idr, uint32_t id);
/* Replace the entry of an occupied @id; returns the old entry or NULL. */
void *isim_idr_replace(struct isim_idr *idr, uint32_t id, void *entry);
/* Free @id; returns the entry that was there or NULL. */
void *isim_idr_erase(struct isim_idr *idr, uint32_t id);
/* Lowest occupied ID >= *id: its entry, with *id updated; NULL when none. */
void *isim_idr_find_next(const struct isim_idr *idr, uint32_t *id);

static inline bool isim_idr_empty(const struct isim_idr *idr)
{
	return idr->count == 0;
}

#define isim_idr_for_each(idr, id, entry)                                     \
	for ((id) = 0; ((entry) = isim_idr_find_next((idr), &(id))) != NULL;  \
	     (id)++)

#endif
