/*
 * The open-addressing hash (linear probing, no tombstones) behind the vm's
 * two sparse maps: adopted-page chunks keyed by VA and file pages keyed by
 * page index.  Keys are stored plus one so that a zeroed slot is empty;
 * the table doubles at half full.  No locking of its own: callers hold the
 * vm lock.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sim/lib/fault.h"
#include "sim/mm/vm_private.h"

static inline size_t hash_home(uint64_t key, size_t cap)
{
	key *= 0x9e3779b97f4a7c15ull;
	return (size_t)(key ^ (key >> 29)) & (cap - 1);
}

struct vm_slot *vm_hash_find(const struct vm_hash *h, uint64_t key)
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

int vm_hash_insert(struct vm_hash *h, uint64_t key, uint64_t val)
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
void vm_hash_remove(struct vm_hash *h, struct vm_slot *slot)
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

void vm_hash_fini(struct vm_hash *h)
{
	free(h->slots);
	memset(h, 0, sizeof(*h));
}
