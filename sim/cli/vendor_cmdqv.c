/*
 * The `cmdqv` verb: a guest kernel driving NVIDIA Tegra241 VCMDQs through
 * its mmapped VINTF page0 (enable, push, doorbell, acknowledge or skip an
 * error, read a register), the modelled IOTLB behind a VINTF, the vEVENTs
 * of a vIOMMU, and `show queue` for a TEGRA241_CMDQV HW queue.  The guest
 * side uses only the guest helpers of smmuv3_cmd.h on memory the scenario
 * made or mmapped; the model handles come from the driver's VMM-side
 * calls, for what a guest cannot see (a VCMDQ's BASE, the IOTLB).
 */
#include "config.h"

#include <endian.h>
#include <inttypes.h>
#include <sched.h>
#include <string.h>

#include <linux/iommufd.h>

#include "sim/cli/vendor.h"

static unsigned ilog2_u64(uint64_t v)
{
	unsigned l = 0;

	while (v >>= 1)
		l++;
	return l;
}

static void kick(void *arg)
{
	/* Stepped: run the models.  Threaded: they run; give them time. */
	if (!isim_hw_run(arg, 4096))
		sched_yield();
}

/* ---------------------------------------------------------------- CMDQV */

static const char *const cerror_names[] = { "none", "ILL", "ABT",
					    "ATC_INV_SYNC", "ILL_ACCESS" };

static const char *cerror_name(unsigned code)
{
	return code < ARRAY_SIZE(cerror_names) ? cerror_names[code] : "?";
}

static int cmdqv_vintf(struct runner *r, struct isim_fd *fd, uint32_t viommu,
		       unsigned col, struct isim_cmdqv_vintf **v)
{
	int rc = tegra241_cmdqv_viommu_vintf(fd, viommu, v);

	if (rc)
		run_error(r, col, "%u is not a TEGRA241_CMDQV vIOMMU of this FD",
			  viommu);
	return rc ? 1 : 0;
}

/* The CMDQV instance behind a VINTF, among the scenario's IOMMUs. */
static struct isim_cmdqv *cmdqv_of(struct runner *r,
				   struct isim_cmdqv_vintf *v)
{
	for (unsigned i = 0; i < r->niommus; i++) {
		struct isim_cmdqv *hw;

		if (!tegra241_cmdqv_model(r->iommus[i].ptr, &hw) &&
		    isim_cmdqv_vintf(hw, isim_cmdqv_vintf_id(v)) == v)
			return hw;
	}
	return NULL;
}

/*
 * The guest's handle on VCMDQ @tok: its slot in the mmapped VINTF page0
 * and its ring in guest RAM, set up when the guest first touches it.
 */
static struct rec *cmdqv_queue(struct runner *r, struct isim_fd *fd,
			       const struct scn_tok *tok)
{
	struct isim_cmdqv_vintf *v;
	struct rec *q;
	uint64_t id;
	void *page0, *ring;

	if (!run_eval(r, tok->s, tok->col, NULL, &id))
		return NULL;
	q = vendor_rec_find(r, fd, REC_HWQ, (uint32_t)id);
	if (!q || q->type != IOMMU_HW_QUEUE_TYPE_TEGRA241_CMDQV) {
		run_error(r, tok->col, "%" PRIu64 " is not a TEGRA241_CMDQV HW queue this scenario allocated on this FD",
			  id);
		return NULL;
	}
	if (cmdqv_vintf(r, fd, q->up, tok->col, &v))
		return NULL;
	page0 = isim_cmdqv_vintf_page0(v);
	if (!vendor_mmapped(r, fd, page0)) {
		run_error(r, tok->col, "the guest reaches its VCMDQ through the VINTF page0: mmap it first (mmap FD OFFSET 64K, the offset VIOMMU_ALLOC wrote to its data)");
		return NULL;
	}
	if (q->guest_ready)
		return q;
	ring = vendor_guest_va(r, fd, q->up, q->iova, q->length);
	if (!ring) {
		run_error(r, tok->col, "the queue's GPA 0x%" PRIx64 " is in no guest RAM an IOAS_MAP of this FD put there",
			  q->iova);
		return NULL;
	}
	isim_vcmdq_guest_init(&q->g.vcmdq, page0, q->index, ring,
			      ilog2_u64(q->length / ISIM_SMMU_CMD_SIZE));
	q->g.vcmdq.kick = kick;
	q->g.vcmdq.kick_arg = r->m;
	q->g.vcmdq.max_polls = 100000;
	q->guest_ready = true;
	return q;
}

static uint32_t reg_load(struct isim_vcmdq_guest *g, unsigned off)
{
	return __atomic_load_n(isim_vcmdq_reg(g->regs, off), __ATOMIC_ACQUIRE);
}

static int cmdqv_push(struct runner *r, const struct vline *l,
		      struct isim_vcmdq_guest *g, uint64_t *result)
{
	const struct scn_tok *optok = vendor_arg(r, l, 1);
	const char *op = optok->s;
	struct isim_smmu_cmd c = { 0 }, back;
	uint64_t dw[2] = { 0, 0 }, given = 0;
	uint32_t slot = g->prod & ((1u << g->log2size) - 1);
	int rc;

	if (!strcmp(op, "raw")) {
		if (!vendor_set_fields(r, l, vendor_raw_smmu, dw, &given))
			return 1;
	} else {
		c.op = (uint8_t)vendor_smmu_op_find(op);
		if (!vendor_set_fields(r, l, vendor_smmu_fields, &c, &given))
			return 1;
		if (isim_smmu_cmd_encode(&c, dw)) {
			run_error(r, optok->col, "%s cannot be encoded: a field does not fit its bits (or an address has bits below its granule)",
				  op);
			return 1;
		}
		memset(&back, 0, sizeof(back));
		isim_smmu_cmd_decode(dw, &back);
		if (!vendor_fields_survive(r, op, vendor_smmu_fields, &c, &back,
					   given))
			return 1;
	}
	rc = isim_vcmdq_guest_push(g, dw);
	if (!rc)
		*result = slot;
	return rc;
}

static int cmdqv_iotlb(struct runner *r, struct isim_fd *fd,
		       const struct vline *l, uint64_t *result)
{
	struct isim_cmdqv_vintf *v;
	struct isim_cmdqv *hw;
	uint64_t viommu, asid, va;
	uint16_t vmid;

	if (!vendor_arg_val(r, l, 0, &viommu) ||
	    !vendor_arg_val(r, l, 2, &asid) || !vendor_arg_val(r, l, 3, &va))
		return 1;
	if (cmdqv_vintf(r, fd, (uint32_t)viommu, vendor_arg(r, l, 0)->col,
			&v))
		return 1;
	hw = cmdqv_of(r, v);
	if (!hw) {
		run_error(r, 0, "no IOMMU of this scenario has that VINTF");
		return 1;
	}
	if (asid > 0xffff) {
		run_error(r, vendor_arg(r, l, 2)->col, "an ASID has 16 bits");
		return 1;
	}
	/* The IOTLB is tagged with the VINTF's VMID, as the guest's TLBIs
	 * are once the hardware has replaced theirs. */
	vmid = (uint16_t)ISIM_CMDQV_VINTF_VMID(isim_cmdqv_vintf_config_reg(v));
	if (!strcmp(vendor_arg(r, l, 1)->s, "fill"))
		isim_cmdqv_iotlb_insert(hw, vmid, (uint16_t)asid, va);
	*result = isim_cmdqv_iotlb_has(hw, vmid, (uint16_t)asid, va);
	return 0;
}

/* One vEVENT of the Tegra241 CMDQV, as read(2) returns it. */
struct cmdqv_vevent {
	struct iommufd_vevent_header hdr;
	struct iommu_vevent_tegra241_cmdqv ev;
};

static int cmdqv_vevents(struct runner *r, struct isim_fd *fd,
			 const struct vline *l, uint64_t *result)
{
	uint64_t efd;
	unsigned n = 0;

	if (!vendor_arg_val(r, l, 0, &efd))
		return 1;
	for (;;) {
		struct cmdqv_vevent rec;
		ssize_t got;
		uint64_t map[2];

		memset(&rec, 0, sizeof(rec));
		got = isim_read(fd, (int)efd, &rec, sizeof(rec));

		if (got < 0)
			return (int)got;
		if (!got)
			break;
		n++;
		if (r->opts->quiet)
			continue;
		if ((size_t)got < sizeof(rec)) {
			fprintf(r->out, IND "vEVENT seq %u: LOST_EVENTS, events were dropped\n",
				rec.hdr.sequence);
			continue;
		}
		map[0] = le64toh(rec.ev.lvcmdq_err_map[0]);
		map[1] = le64toh(rec.ev.lvcmdq_err_map[1]);
		if (map[1])
			fprintf(r->out, IND "vEVENT seq %u: LVCMDQ_ERR_MAP 0x%" PRIx64 "%016" PRIx64 ": error in LVCMDQ",
				rec.hdr.sequence, map[1], map[0]);
		else
			fprintf(r->out, IND "vEVENT seq %u: LVCMDQ_ERR_MAP 0x%" PRIx64 ": error in LVCMDQ",
				rec.hdr.sequence, map[0]);
		for (unsigned b = 0; b < 128; b++) {
			if (map[b / 64] >> (b % 64) & 1)
				fprintf(r->out, " %u", b);
		}
		fputc('\n', r->out);
	}
	if (!n && !r->opts->quiet)
		fprintf(r->out, IND "no vEVENT to read\n");
	*result = n;
	return 0;
}

int vendor_run_cmdqv(struct runner *r, struct isim_fd *fd,
		     const struct vline *l, uint64_t *result)
{
	const char *sub = l->sub->name;
	struct rec *q;
	struct isim_vcmdq_guest *g;

	if (!strcmp(sub, "iotlb"))
		return cmdqv_iotlb(r, fd, l, result);
	if (!strcmp(sub, "vevents"))
		return cmdqv_vevents(r, fd, l, result);
	q = cmdqv_queue(r, fd, vendor_arg(r, l, 0));
	if (!q)
		return 1;
	g = &q->g.vcmdq;
	if (!strcmp(sub, "enable") || !strcmp(sub, "disable")) {
		int rc = isim_vcmdq_guest_enable(g, sub[0] == 'e');

		if (!rc && !r->opts->quiet)
			fprintf(r->out, IND "CONFIG.EN := %d; STATUS.ENABLED followed\n",
				sub[0] == 'e');
		return rc;
	}
	if (!strcmp(sub, "push"))
		return cmdqv_push(r, l, g, result);
	if (!strcmp(sub, "doorbell")) {
		isim_vcmdq_guest_publish(g);
		*result = g->prod;
		return 0;
	}
	if (!strcmp(sub, "ack")) {
		*result = isim_vcmdq_guest_gerror_active(g);
		isim_vcmdq_guest_ack(g);
		return 0;
	}
	if (!strcmp(sub, "skip")) {
		*result = isim_vcmdq_guest_skip_error(g);
		if (!r->opts->quiet)
			fprintf(r->out, *result ? IND "the guest replaced the failing command with a CMD_SYNC and acknowledged (GERRORN := GERROR)\n" :
				IND "no error was active: nothing to skip\n");
		return 0;
	}
	/* reg */
	for (unsigned i = 0; vendor_cmdqv_regs[i]; i++) {
		if (!strcmp(vendor_cmdqv_regs[i], vendor_arg(r, l, 1)->s))
			*result = reg_load(g, vendor_cmdqv_reg_off[i]);
	}
	return 0;
}

/* --------------------------------------------------------- show queue */

void vendor_show_cmdqv(struct runner *r, struct isim_fd *fd,
		       const struct rec *q)
{
	static const char *const gerr[] = { "CMDQ_ERR", "CONS_DRAM_ABT",
					    "INIT_ERR" };
	FILE *f = r->out;
	struct isim_cmdqv_vintf *v;
	uint32_t cons, prod, config, status, gerror, gerrorn, active;
	unsigned log2, err;
	uint64_t base;
	void *slot;

	if (tegra241_cmdqv_viommu_vintf(fd, q->up, &v)) {
		fprintf(f, IND "(the vIOMMU is gone)\n");
		return;
	}
	slot = isim_cmdqv_lvcmdq_page0(v, q->index);
	cons = __atomic_load_n(isim_vcmdq_reg(slot, ISIM_VCMDQ_CONS), __ATOMIC_ACQUIRE);
	prod = __atomic_load_n(isim_vcmdq_reg(slot, ISIM_VCMDQ_PROD), __ATOMIC_ACQUIRE);
	config = __atomic_load_n(isim_vcmdq_reg(slot, ISIM_VCMDQ_CONFIG), __ATOMIC_ACQUIRE);
	status = __atomic_load_n(isim_vcmdq_reg(slot, ISIM_VCMDQ_STATUS), __ATOMIC_ACQUIRE);
	gerror = __atomic_load_n(isim_vcmdq_reg(slot, ISIM_VCMDQ_GERROR), __ATOMIC_ACQUIRE);
	gerrorn = __atomic_load_n(isim_vcmdq_reg(slot, ISIM_VCMDQ_GERRORN), __ATOMIC_ACQUIRE);
	base = isim_cmdqv_lvcmdq_base(v, q->index);
	log2 = (unsigned)(base & ISIM_VCMDQ_BASE_LOG2SIZE_MASK);
	if (!log2)
		log2 = ilog2_u64(q->length / ISIM_SMMU_CMD_SIZE);
	err = (cons & ISIM_VCMDQ_CONS_ERR_MASK) >> ISIM_VCMDQ_CONS_ERR_SHIFT;
	active = (gerror ^ gerrorn) & ISIM_VCMDQ_GERROR_ALL;

	fprintf(f, IND "HW queue %u: TEGRA241_CMDQV, vIOMMU %u (VINTF %u), LVCMDQ %u = VCMDQ %u; GPA 0x%" PRIx64 ", %" PRIu64 " entries\n",
		q->id, q->up, isim_cmdqv_vintf_id(v), q->index,
		isim_cmdqv_vcmdq_index(v, q->index), q->iova,
		q->length / ISIM_SMMU_CMD_SIZE);
	fprintf(f, IND "  CONS    0x%08x  RD %u, wrap %u; ERR %u (%s%s)\n", cons,
		(cons & ISIM_VCMDQ_PTR_MASK) & ((1u << log2) - 1),
		(cons & ISIM_VCMDQ_PTR_MASK) >> log2 & 1, err, cerror_name(err),
		err && !(active & ISIM_VCMDQ_GERROR_CMDQ_ERR) ?
			", of an error already acknowledged" : "");
	fprintf(f, IND "  PROD    0x%08x  WR %u, wrap %u\n", prod,
		(prod & ISIM_VCMDQ_PTR_MASK) & ((1u << log2) - 1),
		(prod & ISIM_VCMDQ_PTR_MASK) >> log2 & 1);
	fprintf(f, IND "  CONFIG  0x%08x  %s\n", config,
		config & ISIM_VCMDQ_EN ? "EN" : "disabled");
	fprintf(f, IND "  STATUS  0x%08x  %s\n", status,
		status & ISIM_VCMDQ_EN ? "ENABLED" : "not enabled");
	fprintf(f, IND "  GERROR  0x%08x\n", gerror);
	fprintf(f, IND "  GERRORN 0x%08x  active:", gerrorn);
	for (unsigned b = 0; b < ARRAY_SIZE(gerr); b++) {
		if (active >> b & 1)
			fprintf(f, " %s", gerr[b]);
	}
	fprintf(f, "%s\n", active ? "" : " none");
	fprintf(f, IND "  BASE    0x%016" PRIx64 "  ADDR 0x%" PRIx64 " (PA), LOG2SIZE %u\n",
		base, (uint64_t)(base & ISIM_VCMDQ_BASE_ADDR_MASK),
		(unsigned)(base & ISIM_VCMDQ_BASE_LOG2SIZE_MASK));
	if ((active & ISIM_VCMDQ_GERROR_CMDQ_ERR) && q->guest_ready) {
		uint32_t rd = (cons & ISIM_VCMDQ_PTR_MASK) & ((1u << log2) - 1);
		struct isim_smmu_cmd c;
		uint64_t dw[2];

		isim_smmu_cmd_from_le(q->g.vcmdq.ring + ((size_t)rd << ISIM_SMMU_CMD_SHIFT), dw);
		memset(&c, 0, sizeof(c));
		isim_smmu_cmd_decode(dw, &c);
		fprintf(f, IND "  the entry at RD %u: %s (0x%016" PRIx64 " 0x%016" PRIx64 ")\n",
			rd, isim_smmu_op_name(c.op), dw[0], dw[1]);
	}
}

