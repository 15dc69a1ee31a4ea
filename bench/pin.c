/*
 * pin: what an external access (an mdev-style driver) pays per page to pin
 * and unpin guest memory through iommufd_access_pin_pages/unpin_pages, on
 * an IOAS with one mapping and no domain, so the access's pin is the one
 * that really pins.  Memory from isim_mem_alloc with 4K or THP backing is
 * pinned pre-faulted (the same range again; its frames exist and were
 * pinned before) or at first touch (a fresh allocation every repetition;
 * the simulator gives isim_mem_alloc memory its frames at allocation, so a
 * third row adds that allocation, which is where the kernel would fault).
 * 4K backing is also shown on a fragmented machine, where frames scatter
 * and the pin must record one pfn run per page, and as program memory that
 * the simulator adopts on first pin (an anonymous mmap), the one path where
 * frames are made inside the pin.  The baseline is the least a pin can do:
 * store n PFNs into the output array.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

#include <linux/iommufd.h>

#include "bench/bench.h"
#include "sim/iommufd/contig.h"
#include "sim/iommufd/iommufd_private.h"
#include "sim/mm/vm.h"

#define PIN_DEFAULT_PAGES 65536ul	/* 256 MiB of 4 KiB pages */
#define PIN_IOVA (1ull << 32)
/* Repetitions per --reps: one pin is short, so take the best of more. */
#define PIN_INNER 5
/* Pre-faulted 4K pin, in multiples of the PFN-store baseline. */
#define PIN_TARGET_RATIO 3.0

struct pin_env {
	struct isim_machine *m;
	struct isim_fd *fd;
	uint32_t ioas;
	struct iommufd_access *access;
	uint64_t ps;
	uint64_t *pfns;
	unsigned long unmap_calls;
};

/* Every rep unpins before it unmaps, so this only sees the detach. */
static void pin_access_unmap(void *data, uint64_t iova, uint64_t length)
{
	struct pin_env *env = data;

	env->unmap_calls++;
}

static const struct iommufd_access_ops pin_access_ops = {
	.needs_pin_pages = true,
	.unmap = pin_access_unmap,
};

static int pin_env_init(struct pin_env *env, unsigned long n, double frag)
{
	struct isim_machine_config cfg = { .frag = frag, .seed = 1 };
	uint32_t access_id;

	if (isim_machine_new(&cfg, &env->m))
		return -1;
	env->ps = isim_machine_page_size(env->m);
	if (isim_open(env->m, &env->fd))
		goto err_machine;
	if (bench_ioas_alloc(env->fd, &env->ioas))
		goto err_close;
	env->access = iommufd_access_create(&env->fd->ictx, &pin_access_ops,
					    env, &access_id);
	if (IS_ERR(env->access))
		goto err_close;
	if (iommufd_access_attach(env->access, env->ioas))
		goto err_access;
	env->pfns = calloc(n, sizeof(*env->pfns));
	if (!env->pfns)
		goto err_detach;
	return 0;

err_detach:
	iommufd_access_detach(env->access);
err_access:
	iommufd_access_destroy(env->access);
err_close:
	isim_close(env->fd);
err_machine:
	isim_machine_free(env->m);
	return -1;
}

/* Tear down; -1 if the machine's invariants broke along the way. */
static int pin_env_fini(struct pin_env *env)
{
	char report[512];
	int rc;

	iommufd_access_detach(env->access);
	iommufd_access_destroy(env->access);
	isim_close(env->fd);
	rc = isim_check(env->m, report, sizeof(report));
	if (rc)
		fprintf(stderr, "pin: invariants: %s\n", report);
	isim_machine_free(env->m);
	free(env->pfns);
	return rc ? -1 : 0;
}

/* Memory of one case: simulator-allocated with a backing, or adopted. */
struct pin_mem {
	bool adopted;
	enum isim_backing backing;
	void *va;
};

static int pin_mem_get(struct pin_env *env, struct pin_mem *mem,
		       unsigned long n)
{
	size_t len = n * env->ps;

	if (mem->adopted) {
		mem->va = mmap(NULL, len, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1,
			       0);
		if (mem->va == MAP_FAILED)
			return -1;
	} else if (isim_mem_alloc(env->m, len, mem->backing, &mem->va)) {
		return -1;
	}
	if (bench_ioas_map_fixed(env->fd, env->ioas, mem->va, len, PIN_IOVA))
		return -1;
	return 0;
}

static void pin_mem_put(struct pin_env *env, struct pin_mem *mem,
			unsigned long n)
{
	size_t len = n * env->ps;

	bench_ioas_unmap(env->fd, env->ioas, PIN_IOVA, len);
	if (mem->adopted) {
		/* The program unmaps: adopted frames go back to the machine. */
		isim_vm_forget(env->m->vm, (uint64_t)(uintptr_t)mem->va, len);
		munmap(mem->va, len);
	} else {
		isim_mem_free(env->m, mem->va);
	}
}

struct pin_result {
	double alloc_pin;	/* first touch: allocation + map + pin */
	double pin;
	double unpin;
	size_t runs;		/* pfn runs of the pinned range, last rep */
};

/* Best of pin and unpin of @n pages, in ns per page. */
static int pin_case(struct pin_env *env, struct pin_mem *mem, bool fresh,
		    unsigned long n, unsigned reps, struct pin_result *res)
{
	uint64_t len = n * env->ps;

	res->alloc_pin = res->pin = res->unpin = 1e30;
	if (!fresh) {
		if (pin_mem_get(env, mem, n))
			return -1;
		/* Fault in: the frames exist and were pinned once. */
		if (iommufd_access_pin_pages(env->access, PIN_IOVA, len,
					     env->pfns,
					     IOMMUFD_ACCESS_RW_WRITE))
			return -1;
		iommufd_access_unpin_pages(env->access, PIN_IOVA, len);
	}
	for (unsigned r = 0; r < PIN_INNER * reps; r++) {
		uint64_t t0, t1, t2, t_alloc = 0;

		if (fresh) {
			t0 = bench_now_ns();
			if (pin_mem_get(env, mem, n))
				return -1;
			t_alloc = bench_now_ns() - t0;
		}
		t0 = bench_now_ns();
		if (iommufd_access_pin_pages(env->access, PIN_IOVA, len,
					     env->pfns,
					     IOMMUFD_ACCESS_RW_WRITE))
			return -1;
		t1 = bench_now_ns();
		iommufd_access_unpin_pages(env->access, PIN_IOVA, len);
		t2 = bench_now_ns();
		res->runs = isim_pfns_to_runs(env->pfns, n, NULL, 0);
		res->pin = bench_min(res->pin, (double)(t1 - t0) / (double)n);
		res->unpin = bench_min(res->unpin,
				       (double)(t2 - t1) / (double)n);
		res->alloc_pin = bench_min(res->alloc_pin,
					   (double)(t_alloc + t1 - t0) /
						   (double)n);
		if (fresh)
			pin_mem_put(env, mem, n);
	}
	if (!fresh)
		pin_mem_put(env, mem, n);
	return 0;
}

/* The least a pin can do: one store per page into the PFN array. */
static double pin_store_baseline(uint64_t *pfns, unsigned long n,
				 unsigned reps)
{
	double best = 1e30;

	/* Ten times the reps: one pass is short enough to be noisy. */
	for (unsigned r = 0; r < 10 * reps; r++) {
		uint64_t t0 = bench_now_ns(), base = 0x100000 + r;

		for (unsigned long i = 0; i < n; i++)
			pfns[i] = base + i;
		bench_keep(pfns[n - 1]);
		best = bench_min(best,
				 (double)(bench_now_ns() - t0) / (double)n);
	}
	return best;
}

/*
 * On a machine without fragmentation consecutive 4K allocations get
 * consecutive frames, so "4k" pins one long run like THP does; "4k-frag"
 * is the same on a machine with frag 0.5, where 4K frames are scattered
 * and every page can be a run of its own.
 */
static const struct {
	const char *name;
	bool adopted;
	enum isim_backing backing;
	double frag;
} pin_kinds[] = {
	{ "4k", false, ISIM_BACKING_4K, 0.0 },
	{ "thp", false, ISIM_BACKING_THP, 0.0 },
	{ "4k-frag", false, ISIM_BACKING_4K, 0.5 },
	{ "4k-adopted", true, ISIM_BACKING_4K, 0.0 },
};

#define PIN_NKINDS (sizeof(pin_kinds) / sizeof(pin_kinds[0]))

int bench_pin(const struct bench_opts *o)
{
	unsigned long n = bench_n(o, PIN_DEFAULT_PAGES);
	struct pin_result res[PIN_NKINDS][2];
	const char *base = "pfn-array store";
	char what[96], target[64];
	double store = 1e30;

	for (size_t k = 0; k < PIN_NKINDS; k++) {
		struct pin_env env = { 0 };

		if (pin_env_init(&env, n, pin_kinds[k].frag)) {
			fprintf(stderr, "pin: setup failed\n");
			return 1;
		}
		for (int fresh = 0; fresh < 2; fresh++) {
			struct pin_mem mem = {
				.adopted = pin_kinds[k].adopted,
				.backing = pin_kinds[k].backing,
			};

			if (pin_case(&env, &mem, fresh, n, o->reps,
				     &res[k][fresh])) {
				fprintf(stderr, "pin: %s case failed\n",
					pin_kinds[k].name);
				pin_env_fini(&env);
				return 1;
			}
		}
		/* After the cases, so the array is as warm as theirs. */
		store = bench_min(store,
				  pin_store_baseline(env.pfns, n, o->reps));
		if (pin_env_fini(&env))
			return 1;
	}

	for (size_t k = 0; k < PIN_NKINDS; k++) {
		for (int fresh = 0; fresh < 2; fresh++) {
			const char *when = fresh ? "first-touch" :
						   "pre-faulted";
			struct pin_result *r = &res[k][fresh];
			bool met = r->pin <= PIN_TARGET_RATIO * store;
			const char *tgt = NULL;

			if (k == 0 && !fresh)
				tgt = bench_target(target, sizeof(target), met,
						   "ratio<=%.2f",
						   PIN_TARGET_RATIO);
			snprintf(what, sizeof(what), "%s %s pin (%zu runs)",
				 pin_kinds[k].name, when, r->runs);
			bench_row_target("pin", what, n, r->pin, base, store,
					 tgt);
			snprintf(what, sizeof(what), "%s %s unpin",
				 pin_kinds[k].name, when);
			bench_row("pin", what, n, r->unpin, base, store);
			/* Adopted memory gets its frames inside the pin. */
			if (fresh && !pin_kinds[k].adopted) {
				snprintf(what, sizeof(what),
					 "%s first-touch mem_alloc+map+pin",
					 pin_kinds[k].name);
				bench_row("pin", what, n, r->alloc_pin, base,
					  store);
			}
		}
	}
	return 0;
}
