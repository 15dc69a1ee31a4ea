/*
 * Settings of the Tegra241 CMDQV model (struct isim_cmdqv_config in
 * cmdqv_hw.h): the defaults the research notes give, the "key=value,..."
 * option string whose keys are the field names, and the limits the
 * register widths put on the shape.  Kept apart from the model so the
 * iommufd driver and the CLI can parse and check options without one.
 */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "vendors/nvidia/cmdqv_hw.h"

static bool is_pow2(unsigned v)
{
	return v && !(v & (v - 1));
}

void isim_cmdqv_config_default(struct isim_cmdqv_config *cfg)
{
	*cfg = (struct isim_cmdqv_config) {
		.version = 1,
		.num_vintfs = 16,
		.lvcmdqs_per_vintf = 2,
		.sids_per_vintf = 16,
		.cmdqs = ISIM_VCMDQ_LOG2SIZE_MAX,
		.guest_allow_nh_all_vaa = true,
		.privileged_cerror = ISIM_SMMU_CERROR_ILL,
		.strict_cs = false,
		.sid_miss_cerror = ISIM_SMMU_CERROR_ILL,
		.cons_dram = false,
		.honour_enabled_writes = false,
		.strict_fields = false,
		.use_vintf_vmid = true,
		.sid_replace = true,
		.init_err = true,
		.err_map_latched = false,
		.enable_delay = 0,
		.iotlb_entries = 256,
		.atc_entries = 64,
	};
}

#define KNOB_UINT(f) { #f, offsetof(struct isim_cmdqv_config, f), false }
#define KNOB_BOOL(f) { #f, offsetof(struct isim_cmdqv_config, f), true }

static const struct {
	const char *name;
	size_t off;
	bool is_bool;
} knobs[] = {
	KNOB_UINT(version), KNOB_UINT(num_vintfs), KNOB_UINT(lvcmdqs_per_vintf),
	KNOB_UINT(sids_per_vintf), KNOB_UINT(cmdqs),
	KNOB_BOOL(guest_allow_nh_all_vaa), KNOB_UINT(privileged_cerror),
	KNOB_BOOL(strict_cs), KNOB_UINT(sid_miss_cerror), KNOB_BOOL(cons_dram),
	KNOB_BOOL(honour_enabled_writes), KNOB_BOOL(strict_fields),
	KNOB_BOOL(use_vintf_vmid), KNOB_BOOL(sid_replace), KNOB_BOOL(init_err),
	KNOB_BOOL(err_map_latched), KNOB_UINT(enable_delay),
	KNOB_UINT(iotlb_entries), KNOB_UINT(atc_entries),
};

static int parse_value(const char *s, size_t len, bool is_bool,
		       unsigned long *out)
{
	static const char *const words[] = { "false", "true", "no", "yes",
					     "off", "on" };
	char buf[32], *end;

	if (!len || len >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (is_bool)
		for (unsigned i = 0; i < sizeof(words) / sizeof(words[0]); i++)
			if (!strcmp(buf, words[i])) {
				*out = i & 1;
				return 0;
			}
	if (buf[0] == '-')
		return -EINVAL;
	errno = 0;
	*out = strtoul(buf, &end, 0);
	if (errno || *end || *out > (is_bool ? 1ul : 0xfffffffful))
		return -EINVAL;
	return 0;
}

int isim_cmdqv_config_parse(struct isim_cmdqv_config *cfg, const char *opts)
{
	const char *p = opts;

	while (p && *p) {
		const char *end = strchr(p, ','), *eq;
		size_t len = end ? (size_t)(end - p) : strlen(p);
		unsigned long val;
		unsigned i;

		eq = memchr(p, '=', len);
		if (!eq)
			return -EINVAL;
		for (i = 0; i < sizeof(knobs) / sizeof(knobs[0]); i++)
			if (strlen(knobs[i].name) == (size_t)(eq - p) &&
			    !memcmp(knobs[i].name, p, eq - p))
				break;
		if (i == sizeof(knobs) / sizeof(knobs[0]))
			return -EINVAL;
		if (parse_value(eq + 1, len - (eq + 1 - p), knobs[i].is_bool, &val))
			return -EINVAL;
		if (knobs[i].is_bool)
			*(bool *)((char *)cfg + knobs[i].off) = val;
		else
			*(unsigned *)((char *)cfg + knobs[i].off) = val;
		p = end ? end + 1 : NULL;
	}
	return 0;
}

int isim_cmdqv_config_validate(const struct isim_cmdqv_config *cfg)
{
	/* Limits are the register widths: 6-bit VINTF and 7-bit LVCMDQ in
	 * CMDQ_ALLOC, 128-bit error maps, 16 SID slots per VINTF block. */
	if (cfg->version > 15 || !is_pow2(cfg->num_vintfs) ||
	    cfg->num_vintfs > 64 || !is_pow2(cfg->lvcmdqs_per_vintf) ||
	    cfg->num_vintfs * cfg->lvcmdqs_per_vintf > 128 ||
	    !is_pow2(cfg->sids_per_vintf) || cfg->sids_per_vintf > 16 ||
	    !cfg->cmdqs || cfg->cmdqs > ISIM_VCMDQ_LOG2SIZE_MAX)
		return -EINVAL;
	if (cfg->privileged_cerror != ISIM_SMMU_CERROR_ILL &&
	    cfg->privileged_cerror != ISIM_SMMU_CERROR_ILL_ACCESS)
		return -EINVAL;
	if (cfg->sid_miss_cerror != 0 &&
	    cfg->sid_miss_cerror != ISIM_SMMU_CERROR_ILL &&
	    cfg->sid_miss_cerror != ISIM_SMMU_CERROR_ILL_ACCESS)
		return -EINVAL;
	if (!cfg->iotlb_entries || cfg->iotlb_entries > (1u << 20) ||
	    !cfg->atc_entries || cfg->atc_entries > (1u << 20))
		return -EINVAL;
	return 0;
}
