/*
 * The ring consumer of the Tegra241 CMDQV model (see cmdqv_hw.h): each step
 * of a VINTF first runs every LVCMDQ's control transition (cmdqv_hw.c),
 * then consumes commands round-robin, one entry of one queue at a time,
 * within a budget: it fetches an entry from the queue's BASE by physical
 * address, decodes and vets it (guest-owned VINTFs accept only some
 * opcodes, and have their VMID and SID rewritten), carries it out on the
 * IOTLB/ATC (cmdqv_cache.c) and moves CONS, or halts the queue with a
 * CERROR.  Error reports go to the driver's callback outside the VINTF
 * lock.  The model runs stepped by its caller or threaded, one polling
 * thread per VINTF; both are driven from here.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <time.h>

#include "sim/lib/fault.h"
#include "vendors/nvidia/cmdqv_cache.h"
#include "vendors/nvidia/cmdqv_hw.h"
#include "vendors/nvidia/cmdqv_hw_private.h"

/* ------------------------------------------------------------- consumer */

static bool sid_lookup(struct isim_cmdqv_vintf *v, uint32_t vsid,
		       uint32_t *psid)
{
	if (vsid > SID20_MASK)
		return false;
	for (unsigned s = 0; s < v->hw->cfg.sids_per_vintf; s++) {
		uint32_t m = ld32(&v->sid_match[s]);

		if ((m & 1) && ((m >> 1) & SID20_MASK) == vsid) {
			*psid = ld32(&v->sid_replace[s]) & SID20_MASK;
			return true;
		}
	}
	return false;
}

/* Which opcodes a guest-owned (HYP_OWN=0) VINTF accepts: 0 or a CERROR. */
static unsigned guest_op_verdict(const struct isim_cmdqv_config *cfg,
				 unsigned op)
{
	switch (op) {
	case ISIM_SMMU_OP_TLBI_NH_ASID:
	case ISIM_SMMU_OP_TLBI_NH_VA:
	case ISIM_SMMU_OP_ATC_INV:
	case ISIM_SMMU_OP_CMD_SYNC:
		return 0;
	case ISIM_SMMU_OP_TLBI_NH_ALL:
	case ISIM_SMMU_OP_TLBI_NH_VAA:
		if (cfg->guest_allow_nh_all_vaa)
			return 0;
		return cfg->privileged_cerror;
	default:
		return cfg->privileged_cerror;
	}
}

/*
 * Carry out one fetched command.  Returns 0 when it took effect (CONS may
 * move past it) or the CERROR code to halt with.
 */
static unsigned execute(struct isim_cmdqv_vintf *v, unsigned lidx,
			const uint64_t dw[2])
{
	struct isim_cmdqv *hw = v->hw;
	const struct isim_cmdqv_config *cfg = &hw->cfg;
	struct lvcmdq *q = &v->q[lidx];
	uint32_t config = ld32(&v->config);
	bool guest = !(config & ISIM_CMDQV_VINTF_HYP_OWN);
	struct isim_smmu_cmd cmd;
	unsigned code;

	if (isim_smmu_cmd_decode(dw, &cmd))
		return ISIM_SMMU_CERROR_ILL;
	if (cfg->strict_fields && isim_smmu_cmd_check_fields(dw))
		return ISIM_SMMU_CERROR_ILL;
	/* EL3 invalidations belong to the Secure queue, which no VCMDQ is. */
	if (cmd.op == ISIM_SMMU_OP_TLBI_EL3_ALL ||
	    cmd.op == ISIM_SMMU_OP_TLBI_EL3_VA)
		return ISIM_SMMU_CERROR_ILL;
	if (guest) {
		code = guest_op_verdict(cfg, cmd.op);
		if (code)
			return code;
		if (cfg->use_vintf_vmid && cmd.op != ISIM_SMMU_OP_ATC_INV &&
		    cmd.op != ISIM_SMMU_OP_CMD_SYNC)
			cmd.vmid = ISIM_CMDQV_VINTF_VMID(config);
	}

	switch (cmd.op) {
	case ISIM_SMMU_OP_CMD_SYNC:
		/* Consumption is synchronous, so everything before is done. */
		if (cmd.cs != ISIM_SMMU_SYNC_CS_NONE && cfg->strict_cs)
			return ISIM_SMMU_CERROR_ILL;
		if (q->atc_timeout) {
			q->atc_timeout = false;
			return ISIM_SMMU_CERROR_ATC_INV_SYNC;
		}
		break;
	case ISIM_SMMU_OP_ATC_INV:
		if (guest && cfg->sid_replace) {
			uint32_t psid;

			if (!sid_lookup(v, cmd.sid, &psid)) {
				STAT_INC(hw, sid_misses);
				if (cfg->sid_miss_cerror)
					return cfg->sid_miss_cerror;
				return 0;	/* dropped: no device to reach */
			}
			cmd.sid = psid;
		}
		if (cmdqv_cache_atc_inv(hw->cache, &cmd)) {
			q->atc_timeout = true;
			STAT_INC(hw, atc_timeouts);
		}
		break;
	default:
		cmdqv_cache_tlbi(hw->cache, &cmd);
		break;
	}
	STAT_INC(hw, executed[cmd.op]);
	if (hw->exec)
		hw->exec(hw->exec_arg, v->id, lidx, &cmd);
	return 0;
}

/* Consume at most one entry of queue @lidx.  Returns the work done. */
static unsigned consume_one(struct isim_cmdqv_vintf *v, unsigned lidx)
{
	struct lvcmdq *q = &v->q[lidx];
	uint32_t n, mask, prod, cons;
	uint64_t dw[2];
	uint8_t ent[ISIM_SMMU_CMD_SIZE];
	unsigned code;

	if (!q->status_en || !q_mapped(v, lidx) ||
	    ((q->gerror ^ q->gerrorn) & ISIM_VCMDQ_GERROR_CMDQ_ERR))
		return 0;
	/* A disable is honoured between commands, never inside one. */
	if (!(ld32(q_reg(v, lidx, ISIM_VCMDQ_CONFIG)) & ISIM_VCMDQ_EN))
		return cmdqv_hw_lvcmdq_control(v, lidx);

	n = 1u << q->log2size;
	mask = 2 * n - 1;
	/* Bit 31 and anything above the wrap bit are not pointer bits. */
	prod = ld32(q_reg(v, lidx, ISIM_VCMDQ_PROD)) & mask;
	cons = q->cons & mask;
	if (prod == cons)
		return 0;
	if (((prod - cons) & mask) > n) {
		/* More than a ring's worth pending: the producer is broken;
		 * wait for a sane PROD and count each bad value once. */
		if (q->bad_prod != prod + 1) {
			q->bad_prod = prod + 1;
			STAT_INC(v->hw, bad_prod);
		}
		return 0;
	}
	q->bad_prod = 0;

	STAT_INC(v->hw, fetches);
	if (isim_hw_read(&v->hw->mem,
			 q->base_pa + ((uint64_t)(cons & (n - 1)) << ISIM_SMMU_CMD_SHIFT),
			 ent, sizeof(ent))) {
		cmdqv_hw_raise_cmdq_err(v, lidx, ISIM_SMMU_CERROR_ABT);
		return 1;
	}
	isim_smmu_cmd_from_le(ent, dw);
	code = execute(v, lidx, dw);
	if (code) {
		cmdqv_hw_raise_cmdq_err(v, lidx, code);
		return 1;
	}
	q->cons = (q->cons & ISIM_VCMDQ_CONS_ERR_MASK) | ((cons + 1) & mask);
	cmdqv_hw_publish_cons(v, lidx);
	return 1;
}

static void deliver_report(struct isim_cmdqv_vintf *v)
{
	struct isim_cmdqv *hw = v->hw;
	uint64_t map[2] = { ld64(&v->err_map[0]), ld64(&v->err_map[1]) };
	bool masked = ld64(&hw->int_mask) & (1ull << v->id);

	if (masked || !hw->report) {
		STAT_INC(hw, reports_suppressed);
		return;
	}
	STAT_INC(hw, reports);
	hw->report(hw->report_arg, v->id, map);
}

unsigned isim_cmdqv_vintf_step(struct isim_cmdqv_vintf *v, unsigned budget)
{
	unsigned work = 0, round;
	bool report;

	pthread_mutex_lock(&v->lock);
	for (unsigned i = 0; i < v->hw->per_vintf; i++)
		work += cmdqv_hw_lvcmdq_control(v, i);
	/* Round-robin so that one busy queue cannot starve its siblings. */
	do {
		round = 0;
		for (unsigned i = 0; i < v->hw->per_vintf && budget; i++) {
			unsigned w = consume_one(v, i);

			round += w;
			budget -= w;
		}
		work += round;
	} while (round && budget);
	cmdqv_hw_publish_maps(v);
	report = v->report_pending;
	v->report_pending = false;
	pthread_mutex_unlock(&v->lock);
	/* Outside the lock: the driver's handler may read the model back. */
	if (report)
		deliver_report(v);
	return work;
}

unsigned isim_cmdqv_step(struct isim_cmdqv *hw, unsigned budget)
{
	unsigned work = 0;

	for (unsigned i = 0; i < hw->cfg.num_vintfs; i++)
		work += isim_cmdqv_vintf_step(&hw->vintfs[i], budget);
	return work;
}

static void *vintf_thread(void *arg)
{
	struct isim_cmdqv_vintf *v = arg;
	unsigned idle = 0;

	while (!__atomic_load_n(&v->stop, __ATOMIC_ACQUIRE)) {
		if (isim_cmdqv_vintf_step(v, 64)) {
			idle = 0;
		} else if (++idle < 256) {
			sched_yield();
		} else {
			/* Long idle: back off so a quiet model costs little. */
			struct timespec ts = { 0, 20000 };

			nanosleep(&ts, NULL);
		}
	}
	return NULL;
}

int isim_cmdqv_vintf_start(struct isim_cmdqv_vintf *v)
{
	if (v->running)
		return -EBUSY;
	__atomic_store_n(&v->stop, 0, __ATOMIC_RELEASE);
	if (isim_should_fail() || pthread_create(&v->thread, NULL, vintf_thread, v))
		return -EAGAIN;
	v->running = true;
	return 0;
}

void isim_cmdqv_vintf_stop(struct isim_cmdqv_vintf *v)
{
	if (!v->running)
		return;
	__atomic_store_n(&v->stop, 1, __ATOMIC_RELEASE);
	pthread_join(v->thread, NULL);
	v->running = false;
}
