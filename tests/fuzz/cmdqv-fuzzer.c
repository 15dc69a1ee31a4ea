/*
 * The Tegra241 CMDQV model with the guest as the adversary.  A VMM is set
 * up through the real ioctls (a "tegra241-cmdqv" device on a nesting
 * parent over 2 MiB of guest RAM in one huge page, a vIOMMU of type
 * TEGRA241_CMDQV with its VINTF page0 mmapped, a vEVENTQ), the machine
 * stepped.  The input decodes into: SMMUv3 command entries written into
 * either VCMDQ (raw bits, or the opcodes a guest may and may not send with
 * random fields, ATC_INVs for registered and unknown vSIDs), any value
 * stored to PROD, CONS, CONFIG, GERRORN and the read-only words of page0,
 * steps small and large, vDEVICEs allocated and destroyed, HW queues
 * allocated on good and bad memory and destroyed, ATC timeouts switched
 * on and off, and IOAS_UNMAP attempts under the queues.
 *
 * Before each step the harness knows what the model holds (the registers
 * as the model last published them) and what the guest wrote since; after
 * it, the rules of spec/nvidia_cmdqv.md §2.6, §2.7, §3.4, §3.5, §6.3 and
 * §6.4 must hold for both queue slots: STATUS follows CONFIG.EN on an
 * allocated queue; a refused enable raises CMDQ_INIT_ERR once; only
 * active GERRORN toggles are taken; GERROR bits are raised only when
 * inactive; a halted queue consumes nothing; CONS moves only toward PROD,
 * never past it nor past a command the VINTF refuses, and never at all
 * for a PROD more than a ring ahead; a new CMDQ_ERR leaves CONS.RD on an
 * entry that earns exactly the CONS.ERR code given; LVCMDQ_ERR_MAP
 * follows GERROR != GERRORN; a large step leaves nothing runnable
 * pending; vEVENTs name only existing queues.  isim_check() after every
 * action, and at the end no pin and no bad DMA.
 */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/mman.h>

#include "tests/fuzz/fuzz.h"
#include "vendors/nvidia/cmdqv_hw.h"
#include "vendors/nvidia/smmuv3_cmd.h"

/* The driver's VMM-side calls (tegra241_cmdqv.c; no header of its own). */
int tegra241_cmdqv_model(struct isim_iommu *iommu, struct isim_cmdqv **out);
int tegra241_cmdqv_viommu_vintf(struct isim_fd *fd, uint32_t viommu_id,
				struct isim_cmdqv_vintf **out);
int tegra241_cmdqv_device_sid(struct isim_device *dev, uint32_t *sid);

#define GPA		0x80000000ull
#define RAM_BYTES	(2ull << 20)
#define NQ		2		/* lvcmdqs_per_vintf, the default */
#define MAX_VDEV	4
#define MAX_OPS		256
#define ERR_MASK	ISIM_VCMDQ_CONS_ERR_MASK
#define BIG_STEP	(1u << 16)

/* What a guest VINTF makes of an entry, with the default settings. */
enum verdict { LEGAL, SYNC, ILL };

struct queue {
	uint32_t hwq;		/* 0: not allocated */
	unsigned int log2size;
	uint8_t *ring;		/* the guest's view of it */
	uint32_t prod;		/* the guest's producer pointer */
	/* The model's registers as it last published them. */
	uint32_t cons, gerror, gerrorn;
	bool status;
};

static struct world {
	struct fuzz_nest n;
	struct isim_cmdqv *hw;
	struct isim_cmdqv_vintf *v;
	uint32_t viommu;
	void *page0;
	size_t page0_len;
	int efd;
	uint8_t *host, *ram;
	bool mapped;
	struct queue q[NQ];
	uint32_t vdev[MAX_VDEV], vsid[MAX_VDEV];
	unsigned int nvdev;
	uint32_t psid;		/* the device's, once a vDEVICE named it */
	bool psid_known, timeouts;
} w;

/* ------------------------------------------------------------ registers */

static uint32_t *qreg(unsigned int lidx, unsigned int off)
{
	return isim_vcmdq_reg((char *)w.page0 + ISIM_VCMDQ_SLOT_STRIDE * lidx,
			      off);
}

static uint32_t rreg(unsigned int lidx, unsigned int off)
{
	return __atomic_load_n(qreg(lidx, off), __ATOMIC_ACQUIRE);
}

static void wreg(unsigned int lidx, unsigned int off, uint32_t v)
{
	__atomic_store_n(qreg(lidx, off), v, __ATOMIC_RELEASE);
}

/* The model's registers as they stand: what it holds after a step. */
static void q_sync(unsigned int lidx)
{
	struct queue *q = &w.q[lidx];

	q->cons = rreg(lidx, ISIM_VCMDQ_CONS);
	q->gerror = rreg(lidx, ISIM_VCMDQ_GERROR);
	q->gerrorn = rreg(lidx, ISIM_VCMDQ_GERRORN);
	q->status = rreg(lidx, ISIM_VCMDQ_STATUS);
}

/* ---------------------------------------------------------- predictions */

static bool vsid_known(uint64_t vsid)
{
	for (unsigned int i = 0; i < w.nvdev; i++)
		if (w.vsid[i] == vsid)
			return true;
	return false;
}

/* §3.2 with the defaults: NH TLBIs, ATC_INV of a known vSID, CMD_SYNC. */
static enum verdict verdict(const uint64_t dw[2])
{
	switch (dw[0] & 0xff) {
	case ISIM_SMMU_OP_TLBI_NH_ALL:
	case ISIM_SMMU_OP_TLBI_NH_ASID:
	case ISIM_SMMU_OP_TLBI_NH_VA:
	case ISIM_SMMU_OP_TLBI_NH_VAA:
		return LEGAL;
	case ISIM_SMMU_OP_ATC_INV:
		return vsid_known(dw[0] >> 32) ? LEGAL : ILL;
	case ISIM_SMMU_OP_CMD_SYNC:
		return SYNC;
	default:
		return ILL;
	}
}

static enum verdict slot_verdict(const struct queue *q, uint32_t ptr)
{
	uint64_t dw[2];

	ptr &= (1u << q->log2size) - 1;
	isim_smmu_cmd_from_le(q->ring + ((size_t)ptr << ISIM_SMMU_CMD_SHIFT),
			      dw);
	return verdict(dw);
}

/*
 * The consume rules (§6.4) for one queue across a step, from what the
 * model held before it (@q) and what the guest left in page0 (@pg_cons,
 * @prod); @cons1 is CONS after it.  Returns the CONS.RD the model stopped
 * at when the step raised CMDQ_ERR.
 */
static void check_consume(unsigned int lidx, const struct queue *q,
			  uint32_t cons0, uint32_t prod, uint32_t cons1,
			  bool raised, bool big)
{
	uint32_t n = 1u << q->log2size, mask = 2 * n - 1;
	uint32_t c = cons0 & mask, d = (prod - c) & mask;
	uint32_t k = (cons1 - c) & mask, code = (cons1 & ERR_MASK) >> 24;

	if (d > n) {
		/* PROD more than a ring ahead: the producer is broken. */
		if (cons1 != cons0 || raised)
			fuzz_die("q%u consumed on a bad PROD %#x (CONS %#x)",
				 lidx, prod, cons0);
		return;
	}
	if (k > d)
		fuzz_die("q%u CONS %#x passed PROD %#x (from %#x)", lidx, cons1,
			 prod, cons0);
	for (uint32_t j = 0; j < k; j++)
		if (slot_verdict(q, c + j) == ILL)
			fuzz_die("q%u consumed the refused entry at %#x", lidx,
				 (c + j) & mask);
	/*
	 * A published RD is the pointer alone; an error that consumed
	 * nothing leaves RD as it was, whatever the guest wrote into it
	 * while the queue was disabled (§6.4 raise: "RD unchanged").
	 */
	if (k && cons1 & ~(mask | ERR_MASK))
		fuzz_die("q%u CONS %#x has bits beyond the pointer", lidx,
			 cons1);
	if (raised && !k && (cons1 ^ cons0) & ~ERR_MASK)
		fuzz_die("q%u CONS.RD %#x -> %#x on an error", lidx, cons0,
			 cons1);
	if (!raised) {
		if (!k && cons1 != cons0)
			fuzz_die("q%u CONS %#x -> %#x without consuming", lidx,
				 cons0, cons1);
		if ((cons1 ^ cons0) & ERR_MASK)
			fuzz_die("q%u CONS.ERR changed without an error", lidx);
		if (big && k < d)
			fuzz_die("q%u idle with %u of %u pending", lidx, d - k,
				 d);
		return;
	}
	/* §3.5: halted at the culprit, with the code it earns. */
	if (k == d)
		fuzz_die("q%u raised CMDQ_ERR with nothing pending", lidx);
	switch (slot_verdict(q, c + k)) {
	case ILL:
		if (code == ISIM_SMMU_CERROR_ILL)
			return;
		break;
	case SYNC:
		if (code == ISIM_SMMU_CERROR_ATC_INV_SYNC && w.timeouts)
			return;
		break;
	default:
		break;
	}
	fuzz_die("q%u halted at %#x with CONS.ERR %u", lidx, (c + k) & mask,
		 code);
}

/*
 * One queue slot across a step.  @pg_* are page0 as the guest left it;
 * w.q[lidx] is still what the model held before the step.
 */
static void check_queue(unsigned int lidx, uint32_t pg_cons, uint32_t prod,
			uint32_t cfg, uint32_t pg_gerrorn, bool big)
{
	struct queue *q = &w.q[lidx];
	bool alloc = q->hwq, en = cfg & ISIM_VCMDQ_EN;
	uint32_t pending = q->gerror ^ q->gerrorn;
	uint32_t gerrorn = q->gerrorn ^ ((pg_gerrorn ^ q->gerrorn) & pending);
	uint32_t active = q->gerror ^ gerrorn;
	uint32_t cons0 = q->status ? q->cons : pg_cons;
	uint32_t cons1 = rreg(lidx, ISIM_VCMDQ_CONS);
	uint32_t gerror1 = rreg(lidx, ISIM_VCMDQ_GERROR);
	uint32_t status1 = rreg(lidx, ISIM_VCMDQ_STATUS);
	uint32_t raised = gerror1 ^ q->gerror;
	uint64_t map[2];

	/* §2.7: only toggles of active bits are taken. */
	if (rreg(lidx, ISIM_VCMDQ_GERRORN) != gerrorn)
		fuzz_die("q%u GERRORN %#x, expected %#x", lidx,
			 rreg(lidx, ISIM_VCMDQ_GERRORN), gerrorn);
	if (raised & ~(uint32_t)ISIM_VCMDQ_GERROR_ALL || raised & active)
		fuzz_die("q%u GERROR %#x -> %#x with %#x active", lidx,
			 q->gerror, gerror1, active);
	if (raised & ISIM_VCMDQ_GERROR_CONS_DRAM_ABT)
		fuzz_die("q%u CONS_DRAM_WR_ABT without a mirror", lidx);
	/* §2.6/§6.3: STATUS follows CONFIG.EN where the queue can run. */
	if (status1 != (en && alloc))
		fuzz_die("q%u STATUS %#x with CONFIG %#x, allocated %d", lidx,
			 status1, cfg, alloc);
	if (!!(raised & ISIM_VCMDQ_GERROR_INIT_ERR) !=
	    (en && !alloc && !(active & ISIM_VCMDQ_GERROR_INIT_ERR)))
		fuzz_die("q%u CMDQ_INIT_ERR %s", lidx,
			 raised & ISIM_VCMDQ_GERROR_INIT_ERR ? "raised" :
							       "missing");
	if (status1 && !(active & ISIM_VCMDQ_GERROR_CMDQ_ERR))
		check_consume(lidx, q, cons0, prod, cons1,
			      raised & ISIM_VCMDQ_GERROR_CMDQ_ERR, big);
	else if (cons1 != cons0 || raised & ISIM_VCMDQ_GERROR_CMDQ_ERR)
		fuzz_die("q%u moved while stopped or halted: CONS %#x -> %#x",
			 lidx, cons0, cons1);
	q_sync(lidx);
	isim_cmdqv_vintf_lvcmdq_err_map(w.v, map);
	if (!!(map[0] >> lidx & 1) != !!(q->gerror ^ q->gerrorn))
		fuzz_die("q%u LVCMDQ_ERR_MAP %#llx, GERROR %#x GERRORN %#x",
			 lidx, (unsigned long long)map[0], q->gerror,
			 q->gerrorn);
}

/* Each vEVENT a step queued names only queues of this VINTF. */
static void drain_vevents(void)
{
	uint8_t buf[512];
	ssize_t len = isim_read(w.n.fd, w.efd, buf, sizeof(buf));
	size_t off = 0;

	while (len > 0 && off + sizeof(struct iommufd_vevent_header) <=
				  (size_t)len) {
		struct iommufd_vevent_header h;
		struct iommu_vevent_tegra241_cmdqv ev;

		memcpy(&h, buf + off, sizeof(h));
		off += sizeof(h);
		if (h.flags & IOMMU_VEVENTQ_FLAG_LOST_EVENTS)
			continue;
		if (off + sizeof(ev) > (size_t)len)
			fuzz_die("a vEVENT cut short");
		memcpy(&ev, buf + off, sizeof(ev));
		off += sizeof(ev);
		if (!ev.lvcmdq_err_map[0] || ev.lvcmdq_err_map[1] ||
		    ev.lvcmdq_err_map[0] >> NQ)
			fuzz_die("vEVENT map %#llx %#llx",
				 (unsigned long long)ev.lvcmdq_err_map[0],
				 (unsigned long long)ev.lvcmdq_err_map[1]);
	}
}

/* ------------------------------------------------------------- actions */

static uint64_t cmd_random_fields(struct fuzz_in *in, unsigned int op)
{
	uint64_t d0 = fuzz_u64(in) & ~0xffull;

	/* ATC_INV names a registered vSID most of the time. */
	if (op == ISIM_SMMU_OP_ATC_INV && w.nvdev && fuzz_u8(in) < 0xc0)
		d0 = (d0 & 0xffffffffull) |
		     (uint64_t)w.vsid[fuzz_u8(in) % w.nvdev] << 32;
	/* CMD_SYNC mostly with CS=NONE, as a VCMDQ wants it. */
	if (op == ISIM_SMMU_OP_CMD_SYNC && fuzz_u8(in) < 0xc0)
		d0 &= ~(3ull << 12);
	return d0 | op;
}

static void act_push(struct fuzz_in *in)
{
	static const uint8_t ops[] = {
		ISIM_SMMU_OP_TLBI_NH_ASID, ISIM_SMMU_OP_TLBI_NH_VA,
		ISIM_SMMU_OP_TLBI_NH_ALL, ISIM_SMMU_OP_TLBI_NH_VAA,
		ISIM_SMMU_OP_ATC_INV, ISIM_SMMU_OP_CMD_SYNC,
		ISIM_SMMU_OP_CMD_SYNC, ISIM_SMMU_OP_ATC_INV,
		ISIM_SMMU_OP_CFGI_STE, ISIM_SMMU_OP_CFGI_CD,
		ISIM_SMMU_OP_TLBI_EL2_ALL, ISIM_SMMU_OP_TLBI_S2_IPA,
		ISIM_SMMU_OP_TLBI_NSNH_ALL, ISIM_SMMU_OP_TLBI_EL3_ALL,
		ISIM_SMMU_OP_PRI_RESP, 0xff,
	};
	struct queue *q = &w.q[fuzz_u8(in) % NQ];
	unsigned int n = 1 + fuzz_u8(in) % 8;

	for (unsigned int i = 0; i < n; i++) {
		uint8_t k = fuzz_u8(in);
		uint64_t dw[2];

		dw[0] = k >= 0xe0 ? fuzz_u64(in) :
				    cmd_random_fields(in, ops[k % 16]);
		dw[1] = fuzz_u64(in);
		if (!q->hwq)
			continue;
		isim_smmu_cmd_to_le(dw, q->ring + ((size_t)(q->prod &
					((1u << q->log2size) - 1))
					<< ISIM_SMMU_CMD_SHIFT));
		q->prod = (q->prod + 1) & ((2u << q->log2size) - 1);
	}
	if (fuzz_u8(in) < 0xc0)
		wreg((unsigned int)(q - w.q), ISIM_VCMDQ_PROD, q->prod);
}

/* Any value into any word of a slot of page0. */
static void act_register(struct fuzz_in *in)
{
	static const unsigned int offs[] = {
		ISIM_VCMDQ_PROD, ISIM_VCMDQ_PROD, ISIM_VCMDQ_CONFIG,
		ISIM_VCMDQ_CONFIG, ISIM_VCMDQ_GERRORN, ISIM_VCMDQ_GERRORN,
		ISIM_VCMDQ_CONS, ISIM_VCMDQ_STATUS, ISIM_VCMDQ_GERROR,
	};
	uint8_t k = fuzz_u8(in);
	unsigned int lidx = k & 1, off = offs[(k >> 1) % 9];
	struct queue *q = &w.q[lidx];
	uint8_t how = fuzz_u8(in);
	uint32_t v;

	switch (how % 4) {
	case 0:
		v = fuzz_u32(in);
		break;
	case 1:
		/* The sane value: publish, enable, acknowledge, rewind. */
		v = off == ISIM_VCMDQ_PROD ? q->prod :
		    off == ISIM_VCMDQ_GERRORN ? rreg(lidx, ISIM_VCMDQ_GERROR) :
		    off == ISIM_VCMDQ_CONFIG ? ISIM_VCMDQ_EN : 0;
		break;
	case 2:
		v = off == ISIM_VCMDQ_CONFIG ? 0 :
		    rreg(lidx, off) ^ 1u << (how >> 3);
		break;
	default:
		/* PROD a ring and more ahead of CONS, or bit 31 set. */
		v = (rreg(lidx, ISIM_VCMDQ_CONS) + (how & 0x10 ? 1u :
			(1u << q->log2size) + 1)) | (how & 0x20 ? 1u << 31 : 0);
	}
	wreg(lidx, off, v);
	if (off == ISIM_VCMDQ_PROD)
		q->prod = v & ((2u << q->log2size) - 1);
}

static void act_run(struct fuzz_in *in)
{
	uint32_t cons[NQ], prod[NQ], cfg[NQ], gerrorn[NQ];
	uint8_t k = fuzz_u8(in);
	bool big = k >= 0xe0;

	for (unsigned int i = 0; i < NQ; i++) {
		cons[i] = rreg(i, ISIM_VCMDQ_CONS);
		prod[i] = rreg(i, ISIM_VCMDQ_PROD);
		cfg[i] = rreg(i, ISIM_VCMDQ_CONFIG);
		gerrorn[i] = rreg(i, ISIM_VCMDQ_GERRORN);
	}
	isim_hw_run(w.n.m, big ? BIG_STEP : 1u + k % 8);
	for (unsigned int i = 0; i < NQ; i++)
		check_queue(i, cons[i], prod[i], cfg[i], gerrorn[i],
			    big && w.q[i].hwq && w.q[i].log2size < 12);
	drain_vevents();
}

static void act_vdevice(struct fuzz_in *in)
{
	static const uint64_t ids[] = { 0x10, 0x11, 0xfffff, 0x100000 };
	uint8_t k = fuzz_u8(in);
	uint64_t virt = k >= 0xf0 ? fuzz_u64(in) : ids[k % 4];
	uint32_t id;

	if (k & 0x08 && w.nvdev) {
		unsigned int i = fuzz_u8(in) % w.nvdev;

		if (fuzz_destroy(&w.n, w.vdev[i]))
			fuzz_die("cannot destroy vDEVICE %u", w.vdev[i]);
		w.vdev[i] = w.vdev[--w.nvdev];
		w.vsid[i] = w.vsid[w.nvdev];
		return;
	}
	if (w.nvdev == MAX_VDEV || fuzz_vdevice(&w.n, w.viommu, virt, &id))
		return;
	w.vdev[w.nvdev] = id;
	w.vsid[w.nvdev++] = (uint32_t)virt & 0xfffff;
	if (!w.psid_known && !tegra241_cmdqv_device_sid(w.n.dev, &w.psid))
		w.psid_known = true;
}

/* §4.4: DESTROY leaves the slot clean; queues go in descending order. */
static void hw_queue_destroy(unsigned int lidx)
{
	struct queue *q = &w.q[lidx];
	int rc;

	if (!q->hwq)
		return;
	rc = fuzz_destroy(&w.n, q->hwq);
	if (lidx + 1 < NQ && w.q[lidx + 1].hwq) {
		if (rc != -EBUSY)
			fuzz_die("DESTROY of q%u under q%u: %d", lidx, lidx + 1,
				 rc);
		return;
	}
	if (rc)
		fuzz_die("DESTROY of q%u: %d", lidx, rc);
	q->hwq = 0;
	q->prod = 0;
	/* GERROR stays the model's; the guest may have scribbled on it. */
	q->cons = 0;
	q->status = false;
	q->gerrorn = q->gerror;
	if (rreg(lidx, ISIM_VCMDQ_CONS) || rreg(lidx, ISIM_VCMDQ_STATUS) ||
	    rreg(lidx, ISIM_VCMDQ_GERRORN) != q->gerror ||
	    rreg(lidx, ISIM_VCMDQ_PROD) || rreg(lidx, ISIM_VCMDQ_CONFIG))
		fuzz_die("q%u not clean after DESTROY", lidx);
}

/*
 * §4.2: HW_QUEUE_ALLOC in mapped RAM (aligned to its size or not), past
 * its end, on unmapped GPA, with lengths in and out of [32, 2^23].
 * Anything the driver takes must be a naturally aligned power of two in
 * mapped RAM, in ascending slot order.
 */
static void act_hw_queue(struct fuzz_in *in)
{
	static const uint64_t lens[] = { 4096, 64, 32, 8192, 48, 16, 0,
					 1ull << 24 };
	uint8_t k = fuzz_u8(in);
	unsigned int lidx = k % 3;
	uint64_t len = lens[fuzz_u8(in) % 8], off = fuzz_u32(in);
	uint64_t iova;
	uint32_t id;

	if (k & 0x80) {
		hw_queue_destroy(lidx % NQ);
		return;
	}
	off = k & 0x40 ? off % RAM_BYTES : off % (RAM_BYTES / 4096) * 4096;
	iova = k & 0x20 ? fuzz_u64(in) : GPA + off;
	if (fuzz_hw_queue(&w.n, w.viommu, IOMMU_HW_QUEUE_TYPE_TEGRA241_CMDQV,
			  lidx, iova, len, &id))
		return;
	if (lidx >= NQ || w.q[lidx].hwq || (lidx && !w.q[lidx - 1].hwq) ||
	    len & (len - 1) || len < 32 || len > 1u << 23 || iova < GPA ||
	    iova - GPA >= RAM_BYTES || RAM_BYTES - (iova - GPA) < len ||
	    (iova - GPA) % len || !w.mapped)
		fuzz_die("HW_QUEUE_ALLOC q%u iova %#llx len %#llx taken", lidx,
			 (unsigned long long)iova, (unsigned long long)len);
	w.q[lidx].hwq = id;
	w.q[lidx].log2size = (unsigned int)__builtin_ctzll(len) -
			     ISIM_SMMU_CMD_SHIFT;
	w.q[lidx].ring = w.ram + (iova - GPA);
	w.q[lidx].prod = rreg(lidx, ISIM_VCMDQ_PROD) &
			 ((2u << w.q[lidx].log2size) - 1);
}

/* A device that stops answering ATC invalidations, and starts again. */
static void act_timeout(struct fuzz_in *in)
{
	bool on = fuzz_u8(in) & 1;

	if (!w.psid_known)
		return;
	if (!isim_cmdqv_atc_set_timeout(w.hw, w.psid, on) && on)
		w.timeouts = true;
}

/* The pinned queue memory cannot be unmapped under a live queue. */
static void act_unmap(struct fuzz_in *in)
{
	int rc;

	(void)in;
	if (!w.mapped) {
		if (fuzz_map(&w.n, w.ram, RAM_BYTES, GPA))
			fuzz_die("cannot map guest RAM back");
		w.mapped = true;
		return;
	}
	rc = fuzz_unmap(&w.n, GPA, RAM_BYTES);
	if (!rc && (w.q[0].hwq || w.q[1].hwq))
		fuzz_die("IOAS_UNMAP under a live queue succeeded");
	w.mapped = rc != 0;
}

/* ---------------------------------------------------------- the world */

static void world_new(void)
{
	struct iommu_viommu_tegra241_cmdqv data = { 0 };
	struct iommu_veventq_alloc vq = {
		.size = sizeof(vq), .type = IOMMU_VEVENTQ_TYPE_TEGRA241_CMDQV,
		.veventq_depth = 4,
	};

	memset(&w, 0, sizeof(w));
	fuzz_nest_new(&w.n, "tegra241-cmdqv", NULL);
	/*
	 * The host's memory first, so no guest queue sits at PA 0, which the
	 * model takes for "not programmed"; the guest's is one huge page, so
	 * every queue in it is contiguous and aligned as in the host.
	 */
	if (isim_mem_alloc(w.n.m, RAM_BYTES, ISIM_BACKING_THP,
			   (void **)&w.host) ||
	    isim_mem_alloc(w.n.m, RAM_BYTES, ISIM_BACKING_THP,
			   (void **)&w.ram) ||
	    tegra241_cmdqv_model(w.n.iommu, &w.hw))
		fuzz_die("cannot make the guest's memory");
	memset(w.ram, 0, RAM_BYTES);
	if (fuzz_map(&w.n, w.ram, RAM_BYTES, GPA))
		fuzz_die("cannot map guest RAM");
	w.mapped = true;
	w.viommu = fuzz_viommu(&w.n, IOMMU_VIOMMU_TYPE_TEGRA241_CMDQV, &data,
			       sizeof(data));
	w.page0_len = data.out_vintf_mmap_length;
	vq.viommu_id = w.viommu;
	if (isim_mmap(w.n.fd, data.out_vintf_mmap_offset, w.page0_len,
		      PROT_READ | PROT_WRITE, MAP_SHARED, &w.page0) ||
	    tegra241_cmdqv_viommu_vintf(w.n.fd, w.viommu, &w.v) ||
	    isim_ioctl(w.n.fd, IOMMU_VEVENTQ_ALLOC, &vq))
		fuzz_die("cannot set up the VINTF");
	w.efd = (int)vq.out_veventq_fd;
	for (unsigned int i = 0; i < NQ; i++)
		q_sync(i);
}

static void world_free(void)
{
	if (isim_munmap(w.n.fd, w.page0, w.page0_len))
		fuzz_die("cannot unmap page0");
	fuzz_nest_close(&w.n);
	isim_mem_free(w.n.m, w.ram);
	isim_mem_free(w.n.m, w.host);
	isim_machine_free(w.n.m);
}

/* After every action: the core's invariants and no access to a freed frame. */
static void check_all(const char *after)
{
	fuzz_check(w.n.m, after);
	if (isim_phys_bad_dma(w.n.m->phys))
		fuzz_die("after %s: an access hit a freed frame", after);
}

static const struct fuzz_act acts[] = {
	{ "push", act_push },		{ "push", act_push },
	{ "register", act_register },	{ "register", act_register },
	{ "run", act_run },		{ "run", act_run },
	{ "vdevice", act_vdevice },	{ "hw_queue", act_hw_queue },
	{ "hw_queue", act_hw_queue },	{ "timeout", act_timeout },
	{ "unmap", act_unmap },
};

static const struct fuzz_harness harness = {
	world_new, check_all, world_free, acts,
	sizeof(acts) / sizeof(acts[0]), MAX_OPS,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_harness_run(&harness, data, size);
}
