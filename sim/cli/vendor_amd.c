/*
 * The `amd` verb: a guest kernel driving an AMD vIOMMU through its mmapped
 * VF page (the command buffer, the event and PPR logs, the status
 * register) and its trapped Control register, the page responses that
 * reached a device, and `show queue` for an AMD HW queue.  The guest side
 * uses only the guest helpers of amd_cmd.h on memory the scenario made or
 * mmapped; the model handles come from the driver's VMM-side calls, for
 * what a guest cannot see (the VFCTRL ring slots).
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include <linux/iommufd.h>

#include "sim/cli/vendor.h"

/* ------------------------------------------------------------------ AMD */

static const char *const evt_names[] = {
	NULL, "ILLEGAL_DEV_TABLE_ENTRY", "IO_PAGE_FAULT",
	"DEV_TAB_HARDWARE_ERROR", "PAGE_TAB_HARDWARE_ERROR",
	"ILLEGAL_COMMAND_ERROR", "COMMAND_HARDWARE_ERROR", "IOTLB_INV_TIMEOUT",
	"INVALID_DEVICE_REQUEST", "INVALID_PPR_REQUEST",
};

static const char *const ring_names[AMD_RING_NR] = {
	"command buffer", "event log", "PPR log"
};

/* The AMD vIOMMU a line is about: viommu=ID, else the newest one. */
static int amd_viommu(struct runner *r, struct isim_fd *fd,
		      const struct vline *l, uint32_t *id, struct amd_hw **hw)
{
	const struct scn_tok *t = NULL;
	struct cli_vmm *vm = vendor_vmm(r);
	uint64_t v = 0;
	bool found = false;

	for (unsigned k = 0; k < l->nkv; k++) {
		if (!strcmp(r->st->tok[l->kv[k]].s, "viommu"))
			t = &r->st->tok[l->kv[k]];
	}
	if (t) {
		if (!run_eval(r, t->val, vendor_val_col(t), NULL, &v))
			return 1;
		found = true;
	}
	for (unsigned i = vm->n; !found && i-- > 0;) {
		const struct rec *x = &vm->v[i];

		if (x->fd == fd && x->kind == REC_VIOMMU &&
		    x->type == IOMMU_VIOMMU_TYPE_AMD) {
			v = x->id;
			found = true;
		}
	}
	if (!found) {
		run_error(r, 0, "no AMD vIOMMU was allocated on this FD");
		return 1;
	}
	*id = (uint32_t)v;
	if (amd_viommu_model(fd, *id, hw)) {
		run_error(r, t ? vendor_val_col(t) : 0,
			  "%u is not an AMD vIOMMU of this FD", *id);
		return 1;
	}
	return 0;
}

/* The guest's VF page: it must be mmapped. */
static void *amd_vf(struct runner *r, struct isim_fd *fd, struct amd_hw *hw)
{
	void *vf = amd_hw_vf_page(hw);

	if (vendor_mmapped(r, fd, vf))
		return vf;
	run_error(r, 0, "the guest reaches its registers through the VF page: mmap it first (mmap FD OFFSET 4K, the out_vfmmio_mmap_offset VIOMMU_ALLOC wrote to its data)");
	return NULL;
}

/* The newest HW queue of @type on vIOMMU @viommu. */
static struct rec *amd_ring_rec(struct runner *r, struct isim_fd *fd,
				uint32_t viommu, enum amd_ring ring)
{
	struct cli_vmm *vm = vendor_vmm(r);

	for (unsigned i = vm->n; i-- > 0;) {
		struct rec *x = &vm->v[i];

		if (x->fd == fd && x->kind == REC_HWQ && x->up == viommu &&
		    x->type == IOMMU_HW_QUEUE_TYPE_AMD_CMD + (unsigned)ring)
			return x;
	}
	run_error(r, 0, "vIOMMU %u has no %s (HW_QUEUE_ALLOC type=AMD_%s)",
		  viommu, ring_names[ring],
		  ring == AMD_RING_CMD ? "CMD" : ring == AMD_RING_EVT ? "EVT" : "PPR");
	return NULL;
}

/* A guest handle on @ring; @fresh re-reads its registers (consumers). */
static struct amd_guest_ring *amd_ring(struct runner *r, struct isim_fd *fd,
				       uint32_t viommu, struct amd_hw *hw,
				       enum amd_ring ring, bool fresh)
{
	struct amd_ring_info ri;
	struct rec *q = amd_ring_rec(r, fd, viommu, ring);
	void *vf = amd_vf(r, fd, hw), *base;

	if (!q || !vf)
		return NULL;
	if (q->guest_ready && !fresh)
		return &q->g.amd;
	amd_hw_ring_info(hw, ring, &ri);
	if (!ri.len) {
		run_error(r, 0, "the %s of vIOMMU %u is not programmed", ring_names[ring],
			  viommu);
		return NULL;
	}
	base = vendor_guest_va(r, fd, viommu, q->iova, ri.size);
	if (!base) {
		run_error(r, 0, "the %s at GPA 0x%" PRIx64 " (0x%x bytes) is not in one piece of guest RAM an IOAS_MAP of this FD put there",
			  ring_names[ring], q->iova, ri.size);
		return NULL;
	}
	amd_guest_ring_init(&q->g.amd, vf, ring, base, ri.len);
	q->guest_ready = true;
	return &q->g.amd;
}

static int amd_cmd_line(struct runner *r, const struct vline *l,
			struct amd_hw *hw, struct amd_guest_ring *g,
			uint64_t *result)
{
	const struct scn_tok *optok = vendor_arg(r, l, 0);
	const struct amd_hw_config *cfg = amd_hw_config(hw);
	const struct amd_cmd_format fmt = {
		.iotlb_pasid = cfg->iotlb_pasid_layout,
		.iotlb_type = cfg->inv_iotlb_type_sup,
	};
	struct amd_cmd c, back;
	struct amd_entry e = { 0, 0 };
	uint64_t given = 0;
	uint32_t slot = g->next;
	int i, rc;

	if (!strcmp(optok->s, "raw")) {
		uint64_t q[2] = { 0, 0 };

		if (!vendor_set_fields(r, l, vendor_raw_amd, q, &given))
			return 1;
		e.q0 = q[0];
		e.q1 = q[1];
	} else {
		i = vendor_amd_op_find(optok->s);
		memset(&c, 0, sizeof(c));
		c.op = vendor_amd_ops[i].op;
		if (!vendor_set_fields(r, l, vendor_amd_ops[i].fields, &c,
				       &given))
			return 1;
		/* A store address given means a store is wanted. */
		if (c.op == AMD_CMD_COMPLETION_WAIT && (given & 8) && !(given & 1))
			c.comp_wait.s = true;
		if (amd_cmd_encode(&c, &fmt, &e)) {
			run_error(r, optok->col, "%s cannot be encoded: a field does not fit its bits (or an address is not aligned)",
				  optok->s);
			return 1;
		}
		memset(&back, 0, sizeof(back));
		amd_cmd_decode(&e, &fmt, &back);
		if (!vendor_fields_survive(r, optok->s, vendor_amd_ops[i].fields,
					   &c, &back, given))
			return 1;
	}
	rc = amd_guest_cmd_push(g, &e);
	if (!rc)
		*result = slot;
	return rc;
}

static void print_event(FILE *f, uint32_t at, const struct amd_entry *e)
{
	struct amd_event ev;
	unsigned type;

	amd_event_decode(e, &ev);
	fprintf(f, IND "at 0x%x: %s", at,
		ev.code < ARRAY_SIZE(evt_names) && evt_names[ev.code] ?
			evt_names[ev.code] : "unknown event code");
	switch (ev.code) {
	case AMD_EVT_ILLEGAL_COMMAND_ERROR:
		fprintf(f, ": the command at GPA 0x%" PRIx64 " is not legal\n",
			ev.addr);
		return;
	case AMD_EVT_COMMAND_HW_ERROR:
	case AMD_EVT_DEV_TAB_HW_ERROR:
	case AMD_EVT_PAGE_TAB_HW_ERROR:
		type = ev.flags >> AMD_EVT_F_TYPE_SHIFT & 3;
		fprintf(f, ": %s at GPA 0x%" PRIx64 "%s\n",
			type == AMD_HWERR_MASTER_ABORT ? "master abort" :
			type == AMD_HWERR_TARGET_ABORT ? "target abort" :
			type == AMD_HWERR_DATA_ERROR ? "data error" : "hardware error",
			ev.addr, ev.code == AMD_EVT_COMMAND_HW_ERROR ?
				" (the command could not be read); the command buffer stops" : "");
		return;
	default:
		break;
	}
	fprintf(f, ": DeviceID 0x%x, %s 0x%x, flags 0x%x, address 0x%" PRIx64 "\n",
		ev.devid, ev.flags & AMD_EVT_F_GN ? "PASID" : "DomainID",
		ev.flags & AMD_EVT_F_GN ? ev.pasid : ev.domid, ev.flags, ev.addr);
}

static void print_ppr(FILE *f, uint32_t at, const struct amd_entry *e)
{
	struct amd_ppr p;

	amd_ppr_decode(e, &p);
	fprintf(f, IND "at 0x%x: PAGE_SERVICE_REQUEST: DeviceID 0x%x", at,
		p.devid);
	if (p.flags & AMD_PPR_F_GN)
		fprintf(f, ", PASID 0x%x", p.pasid);
	fprintf(f, ", group 0x%x%s, %s%s%s, address 0x%" PRIx64 "\n", p.prgi,
		p.last ? " (last)" : "", p.flags & AMD_PPR_F_RD ? "R" : "",
		p.flags & AMD_PPR_F_WR ? "W" : "", p.flags & AMD_PPR_F_US ? " user" : " supervisor",
		p.addr);
}

static int amd_log(struct runner *r, struct isim_fd *fd, uint32_t viommu,
		   struct amd_hw *hw, const struct vline *l, uint64_t *result)
{
	enum amd_ring ring = strcmp(vendor_arg(r, l, 0)->s, "evt") ?
			     AMD_RING_PPR : AMD_RING_EVT;
	struct amd_guest_ring *g = amd_ring(r, fd, viommu, hw, ring, true);
	unsigned n = 0;

	if (!g)
		return 1;
	for (;;) {
		struct amd_entry e;
		uint32_t at = g->next;
		int rc = amd_guest_log_pop(g, &e, 0);

		if (rc == -EAGAIN)
			break;
		if (rc)
			return rc;
		n++;
		if (r->opts->quiet)
			continue;
		if (ring == AMD_RING_EVT)
			print_event(r->out, at, &e);
		else
			print_ppr(r->out, at, &e);
	}
	if (!n && !r->opts->quiet)
		fprintf(r->out, IND "the %s is empty\n", ring_names[ring]);
	*result = n;
	return 0;
}

static void print_bits(FILE *f, uint64_t v, const struct cli_sym *syms)
{
	bool any = false;

	for (const struct cli_sym *s = syms; s->name; s++) {
		if (v & s->value) {
			fprintf(f, " %s", s->full);
			any = true;
		}
	}
	if (!any)
		fprintf(f, " (none)");
}

static int amd_responses(struct runner *r, const struct vline *l,
			 uint64_t *result)
{
	const struct scn_tok *t = vendor_arg(r, l, 0);
	struct named *dev = run_named_find(r->devices, r->ndevices, t->s);
	struct amd_ppr_response last;
	uint64_t n = 0;
	int rc;

	if (!dev) {
		run_error(r, t->col, "no device named '%s'", t->s);
		return 1;
	}
	memset(&last, 0, sizeof(last));
	rc = amd_viommu_ppr_responses(dev->ptr, &last, &n);
	if (rc)
		return rc;
	*result = n;
	if (n && !r->opts->quiet)
		fprintf(r->out, IND "%" PRIu64 " page response%s reached %s; the last: DeviceID 0x%x PASID 0x%x group 0x%x, %s%s\n",
			n, n == 1 ? "" : "s", t->s, last.devid, last.pasid,
			last.prgi,
			last.status == AMD_PPR_RSP_SUCCESS ? "success" :
			last.status == AMD_PPR_RSP_INVALID ? "invalid" :
			last.status == AMD_PPR_RSP_FAILURE ? "failure" : "other",
			last.matched ? ", for a request group it had logged" : ", for no group it had logged");
	return 0;
}

int vendor_run_amd(struct runner *r, struct isim_fd *fd,
		   const struct vline *l, uint64_t *result)
{
	const char *sub = l->sub->name;
	struct amd_guest_ring *g;
	struct amd_hw *hw;
	uint32_t viommu;
	uint64_t v;
	void *vf;

	if (!strcmp(sub, "responses"))
		return amd_responses(r, l, result);
	if (amd_viommu(r, fd, l, &viommu, &hw))
		return 1;
	if (!strcmp(sub, "control")) {
		/* Trapped by the VMM and forwarded: not through the VF page. */
		if (!vendor_arg_val(r, l, 0, &v))
			return 1;
		return amd_viommu_control_write(fd, viommu, v);
	}
	if (!strcmp(sub, "log"))
		return amd_log(r, fd, viommu, hw, l, result);
	if (!strcmp(sub, "status") || !strcmp(sub, "clear")) {
		vf = amd_vf(r, fd, hw);
		if (!vf)
			return 1;
		if (sub[0] == 'c') {
			if (!vendor_arg_val(r, l, 0, &v))
				return 1;
			amd_guest_status_write(vf, v);
			return 0;
		}
		*result = amd_guest_status_read(vf);
		if (!r->opts->quiet) {
			fprintf(r->out, IND "status 0x%" PRIx64 ":", *result);
			print_bits(r->out, *result, vendor_amd_status_syms);
			fputc('\n', r->out);
		}
		return 0;
	}
	g = amd_ring(r, fd, viommu, hw, AMD_RING_CMD, false);
	if (!g)
		return 1;
	if (!strcmp(sub, "cmd"))
		return amd_cmd_line(r, l, hw, g, result);
	if (!strcmp(sub, "reset")) {
		amd_guest_ring_reset(g);
		return 0;
	}
	/* tail */
	amd_guest_cmd_ring_tail(g);
	*result = g->next;
	return 0;
}

/* --------------------------------------------------------- show queue */

void vendor_show_amd(struct runner *r, struct isim_fd *fd,
		     const struct rec *q)
{
	static const unsigned head_off[AMD_RING_NR] = { AMD_VF_CMD_HEAD,
							AMD_VF_EVT_HEAD,
							AMD_VF_PPR_HEAD };
	static const char *const en_name[AMD_RING_NR] = { "CmdBufEn",
							  "EventLogEn",
							  "PPRLogEn" };
	static const uint64_t run_bit[AMD_RING_NR] = { AMD_STS_CMD_RUN,
						       AMD_STS_EVT_RUN,
						       AMD_STS_PPR_RUN };
	enum amd_ring ring = (enum amd_ring)(q->type - IOMMU_HW_QUEUE_TYPE_AMD_CMD);
	FILE *f = r->out;
	struct amd_ring_info ri;
	struct amd_hw *hw;
	uint64_t head, tail, st;
	void *vf;

	if (amd_viommu_model(fd, q->up, &hw)) {
		fprintf(f, IND "(the vIOMMU is gone)\n");
		return;
	}
	vf = amd_hw_vf_page(hw);
	amd_hw_ring_info(hw, ring, &ri);
	head = atomic_load(amd_vf_reg(vf, head_off[ring]));
	tail = atomic_load(amd_vf_reg(vf, head_off[ring] + 8));
	st = amd_hw_status(hw);
	fprintf(f, IND "HW queue %u: AMD_%s, the %s of vIOMMU %u (guest ID %u)\n",
		q->id, ring == AMD_RING_CMD ? "CMD" : ring == AMD_RING_EVT ? "EVT" : "PPR",
		ring_names[ring], q->up, amd_hw_config(hw)->gid);
	if (ri.len)
		fprintf(f, IND "  base    GPA 0x%" PRIx64 ", length code %u: %u entries, %u bytes\n",
			ri.base, ri.len, ri.size / AMD_ENTRY_SIZE, ri.size);
	else
		fprintf(f, IND "  base    not programmed\n");
	fprintf(f, IND "  head    0x%" PRIx64 " (entry %" PRIu64 ")\n", head,
		(uint64_t)(head & AMD_PTR_MASK) / AMD_ENTRY_SIZE);
	fprintf(f, IND "  tail    0x%" PRIx64 " (entry %" PRIu64 ")\n", tail,
		(uint64_t)(tail & AMD_PTR_MASK) / AMD_ENTRY_SIZE);
	fprintf(f, IND "  %-7s %u, %s %u\n", en_name[ring], ri.en,
		ring == AMD_RING_CMD ? "CmdBufRun" : ring == AMD_RING_EVT ? "EventLogRun" : "PPRLogRun",
		!!(st & run_bit[ring]));
	fprintf(f, IND "  status  0x%" PRIx64 ":", st);
	print_bits(f, st, vendor_amd_status_syms);
	fputc('\n', f);
}

