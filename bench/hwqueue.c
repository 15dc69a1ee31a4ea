/*
 * hwqueue: the latency of IOMMU_HW_QUEUE_ALLOC plus IOMMU_DESTROY through
 * isim_ioctl with the default mock IOMMU (phys variant: the core pins the
 * queue through an internal access, checks that the frames are contiguous
 * and hands the driver a base PA, which the mock compares with its own
 * translation), for queue lengths from 4 KiB to 8 MiB.  The device is bound
 * and attached to the IOAS, a NEST_PARENT HWPT and a selftest vIOMMU sit on
 * it, and the queue memory is one THP allocation mapped at
 * MOCK_APERTURE_START, so it is physically contiguous.  The baseline is
 * the part of that work that any pinning user pays: pin + unpin of the
 * same range through an external access on the same IOAS; the ratio is
 * what the object and state machine around the pin cost on top.  A last
 * row gives the floor under any two ioctls (two IOMMU_OPTION gets), since
 * every simulated ioctl copies its struct in and out of the caller.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>

#include <linux/iommufd.h>
#include <iommufd_test.h>

#include "bench/bench.h"
#include "sim/iommufd/contig.h"
#include "sim/iommufd/iommufd_private.h"

#define HWQ_DEFAULT_ITERS 5000ul
#define HWQ_MAX_LEN (8ull << 20)
#define HWQ_IOVA ((uint64_t)MOCK_APERTURE_START)

struct hwq_env {
	struct isim_machine *m;
	struct isim_fd *fd;
	struct isim_device *dev;
	uint32_t ioas, dev_id, hwpt, viommu;
	void *mem;
	struct iommufd_access *access;
	uint64_t *pfns;
	uint64_t ps;
};

static void hwq_access_unmap(void *data, uint64_t iova, uint64_t length)
{
	/* The baseline never leaves a pin behind: nothing to drop. */
}

static const struct iommufd_access_ops hwq_access_ops = {
	.needs_pin_pages = true,
	.unmap = hwq_access_unmap,
};

static int hwq_setup(struct hwq_env *env)
{
	struct iommu_hwpt_alloc hwpt = {
		.size = sizeof(hwpt),
		.flags = IOMMU_HWPT_ALLOC_NEST_PARENT,
	};
	struct iommu_viommu_alloc viommu = {
		.size = sizeof(viommu),
		.type = IOMMU_VIOMMU_TYPE_SELFTEST,
	};
	uint32_t pt, access_id;

	if (isim_machine_new(NULL, &env->m))
		return -1;
	env->ps = isim_machine_page_size(env->m);
	if (isim_device_add(env->m, NULL, "bench0", &env->dev) ||
	    isim_open(env->m, &env->fd) ||
	    bench_ioas_alloc(env->fd, &env->ioas) ||
	    isim_device_bind(env->fd, env->dev, &env->dev_id))
		return -1;
	pt = env->ioas;
	if (isim_device_attach(env->fd, env->dev_id, &pt))
		return -1;
	hwpt.dev_id = env->dev_id;
	hwpt.pt_id = env->ioas;
	if (isim_ioctl(env->fd, IOMMU_HWPT_ALLOC, &hwpt))
		return -1;
	env->hwpt = hwpt.out_hwpt_id;
	viommu.dev_id = env->dev_id;
	viommu.hwpt_id = env->hwpt;
	if (isim_ioctl(env->fd, IOMMU_VIOMMU_ALLOC, &viommu))
		return -1;
	env->viommu = viommu.out_viommu_id;
	if (isim_mem_alloc(env->m, HWQ_MAX_LEN, ISIM_BACKING_THP, &env->mem) ||
	    bench_ioas_map_fixed(env->fd, env->ioas, env->mem, HWQ_MAX_LEN,
				 HWQ_IOVA))
		return -1;
	env->access = iommufd_access_create(&env->fd->ictx, &hwq_access_ops,
					    env, &access_id);
	if (IS_ERR(env->access)) {
		env->access = NULL;
		return -1;
	}
	if (iommufd_access_attach(env->access, env->ioas))
		return -1;
	env->pfns = calloc(HWQ_MAX_LEN / env->ps, sizeof(*env->pfns));
	return env->pfns ? 0 : -1;
}

/* Tear down; -1 if the machine's invariants broke along the way. */
static int hwq_teardown(struct hwq_env *env)
{
	char report[512];
	int rc = 0;

	if (env->access) {
		iommufd_access_detach(env->access);
		iommufd_access_destroy(env->access);
	}
	if (env->fd)
		isim_close(env->fd);
	if (env->mem)
		isim_mem_free(env->m, env->mem);
	if (env->m) {
		rc = isim_check(env->m, report, sizeof(report));
		if (rc)
			fprintf(stderr, "hwqueue: invariants: %s\n", report);
		isim_machine_free(env->m);
	}
	free(env->pfns);
	return rc ? -1 : 0;
}

/* The phys variant needs one contiguous range: check ours is. */
static bool hwq_mem_contiguous(struct hwq_env *env)
{
	size_t n = HWQ_MAX_LEN / env->ps;
	bool ok;

	if (iommufd_access_pin_pages(env->access, HWQ_IOVA, HWQ_MAX_LEN,
				     env->pfns, 0))
		return false;
	ok = isim_contig_pfns(ISIM_CONTIG_PER_PAGE, env->pfns, n);
	iommufd_access_unpin_pages(env->access, HWQ_IOVA, HWQ_MAX_LEN);
	return ok;
}

static int hwq_alloc_destroy(struct hwq_env *env, uint64_t len,
			     unsigned long iters, double *out)
{
	struct iommu_hw_queue_alloc cmd = {
		.size = sizeof(cmd),
		.viommu_id = env->viommu,
		.type = IOMMU_HW_QUEUE_TYPE_SELFTEST,
		.index = 0,
		.nesting_parent_iova = HWQ_IOVA,
		.length = len,
	};
	uint64_t t0 = bench_now_ns();

	for (unsigned long i = 0; i < iters; i++) {
		if (isim_ioctl(env->fd, IOMMU_HW_QUEUE_ALLOC, &cmd) ||
		    bench_destroy(env->fd, cmd.out_hw_queue_id))
			return -1;
	}
	*out = (double)(bench_now_ns() - t0) / (double)iters;
	return 0;
}

/* Two of the cheapest ioctls that copy in and out, as ALLOC+DESTROY do. */
static int hwq_ioctl_floor(struct hwq_env *env, unsigned long iters,
			   double *out)
{
	struct iommu_option opt = {
		.size = sizeof(opt),
		.option_id = IOMMU_OPTION_RLIMIT_MODE,
		.op = IOMMU_OPTION_OP_GET,
	};
	uint64_t t0 = bench_now_ns();

	for (unsigned long i = 0; i < iters; i++) {
		if (isim_ioctl(env->fd, IOMMU_OPTION, &opt) ||
		    isim_ioctl(env->fd, IOMMU_OPTION, &opt))
			return -1;
	}
	*out = (double)(bench_now_ns() - t0) / (double)iters;
	return 0;
}

static int hwq_pin_unpin(struct hwq_env *env, uint64_t len,
			 unsigned long iters, double *out)
{
	uint64_t t0 = bench_now_ns();

	for (unsigned long i = 0; i < iters; i++) {
		if (iommufd_access_pin_pages(env->access, HWQ_IOVA, len,
					     env->pfns, 0))
			return -1;
		iommufd_access_unpin_pages(env->access, HWQ_IOVA, len);
	}
	*out = (double)(bench_now_ns() - t0) / (double)iters;
	return 0;
}

/* Lengths: 4 KiB to 4 MiB by powers of 4, then the 8 MiB top. */
static const uint64_t hwq_lens[] = {
	4ull << 10, 16ull << 10, 64ull << 10, 256ull << 10,
	1ull << 20, 4ull << 20, HWQ_MAX_LEN,
};

#define HWQ_NLENS (sizeof(hwq_lens) / sizeof(hwq_lens[0]))
/*
 * Each measurement is split in batches this short (a few hundred us) and
 * the fastest is kept, which filters out the moments another process had
 * the CPU.
 */
#define HWQ_BATCH 32ul

int bench_hwqueue(const struct bench_opts *o)
{
	unsigned long iters = bench_n(o, HWQ_DEFAULT_ITERS);
	unsigned long batches = iters / HWQ_BATCH ? iters / HWQ_BATCH : 1;
	unsigned long batch = iters < HWQ_BATCH ? iters : HWQ_BATCH;
	double hq[HWQ_NLENS], pin[HWQ_NLENS], floor_ns = 1e30;
	struct hwq_env env = { 0 };
	char what[64];
	int rc = 1;

	if (hwq_setup(&env)) {
		fprintf(stderr, "hwqueue: setup failed\n");
		goto out;
	}
	if (!hwq_mem_contiguous(&env)) {
		fprintf(stderr, "hwqueue: THP memory is not contiguous\n");
		goto out;
	}
	for (size_t l = 0; l < HWQ_NLENS; l++)
		hq[l] = pin[l] = 1e30;
	/* Interleaved, so the three see the same machine. */
	for (unsigned long b = 0; b < o->reps * batches; b++) {
		double ns;

		if (hwq_ioctl_floor(&env, batch, &ns))
			goto out;
		floor_ns = bench_min(floor_ns, ns);
		for (size_t l = 0; l < HWQ_NLENS; l++) {
			if (hwq_alloc_destroy(&env, hwq_lens[l], batch, &ns)) {
				fprintf(stderr, "hwqueue: %llu bytes failed\n",
					(unsigned long long)hwq_lens[l]);
				goto out;
			}
			hq[l] = bench_min(hq[l], ns);
			if (hwq_pin_unpin(&env, hwq_lens[l], batch, &ns))
				goto out;
			pin[l] = bench_min(pin[l], ns);
		}
	}
	for (size_t l = 0; l < HWQ_NLENS; l++) {
		snprintf(what, sizeof(what), "alloc+destroy %llu KiB",
			 (unsigned long long)(hwq_lens[l] >> 10));
		bench_row("hwqueue", what, iters, hq[l], "access pin+unpin",
			  pin[l]);
	}
	bench_row("hwqueue", "ioctl floor: 2 x IOMMU_OPTION get", iters,
		  floor_ns, "access pin+unpin 4 KiB", pin[0]);
	rc = 0;
out:
	if (hwq_teardown(&env))
		rc = 1;
	return rc;
}
