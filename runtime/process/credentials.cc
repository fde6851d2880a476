#include "runtime/process/credentials.h"

#include <grp.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <memory>
#include <set>

#include "base/error.h"

namespace cryo::runtime {
namespace {

std::set<cap_value_t> cap_set_of(const std::vector<std::string>& names) {
  std::set<cap_value_t> out;
  for (auto& n : names)
    if (auto v = oci::capability_value(n)) out.insert(static_cast<cap_value_t>(*v));
  return out;
}

void drop_bounding(const std::set<cap_value_t>& keep) {
  for (cap_value_t c = 0; c <= CAP_LAST_CAP; ++c) {
    if (keep.count(c) || !CAP_IS_SUPPORTED(c)) continue;
    if (cap_drop_bound(c) != 0 && errno != EINVAL) throw_errno("drop capability " + std::to_string(c) + " from the bounding set");
  }
}

void set_sets(const oci::Capabilities& caps) {
  std::unique_ptr<struct _cap_struct, int (*)(void*)> state(cap_init(), cap_free);
  if (!state) throw_errno("cap_init");
  auto raise = [&](const std::vector<std::string>& names, cap_flag_t flag) {
    auto set = cap_set_of(names);
    std::vector<cap_value_t> values(set.begin(), set.end());
    if (!values.empty() && cap_set_flag(state.get(), flag, static_cast<int>(values.size()), values.data(), CAP_SET) != 0)
      throw_errno("cap_set_flag");
  };
  raise(caps.effective, CAP_EFFECTIVE);
  raise(caps.permitted, CAP_PERMITTED);
  raise(caps.inheritable, CAP_INHERITABLE);
  if (cap_set_proc(state.get()) != 0) throw_errno("set capabilities (process.capabilities)");
  if (cap_reset_ambient() != 0 && errno != EINVAL) throw_errno("reset ambient capabilities");
  // The kernel only lets a capability be ambient if it is permitted and inheritable; like runc,
  // treat the others as not asked for.
  auto inheritable = cap_set_of(caps.inheritable), permitted = cap_set_of(caps.permitted);
  for (cap_value_t c : cap_set_of(caps.ambient))
    if (inheritable.count(c) && permitted.count(c) && cap_set_ambient(c, CAP_SET) != 0)
      throw_errno("raise ambient capability " + std::to_string(c) + " (process.capabilities.ambient)");
}

}  // namespace

void apply_rlimits(const std::vector<oci::Rlimit>& rlimits) {
  for (auto& rl : rlimits) {
    auto resource = oci::rlimit_resource(rl.type);
    if (!resource) throw Error("process.rlimits: unknown rlimit " + rl.type);
    struct rlimit lim = {rl.soft, rl.hard};
    if (::setrlimit(*resource, &lim) != 0) {
      struct rlimit cur = {};
      ::getrlimit(*resource, &cur);
      throw SysError(errno, "set " + rl.type + " to soft " + std::to_string(rl.soft) + " hard " +
                                std::to_string(rl.hard) + " (the current hard limit is " +
                                (cur.rlim_max == RLIM_INFINITY ? "unlimited" : std::to_string(cur.rlim_max)) +
                                "; raising it needs CAP_SYS_RESOURCE)");
    }
  }
}

void check_capabilities_grantable(const oci::Process& p) {
  if (!p.capabilities) return;
  std::unique_ptr<struct _cap_struct, int (*)(void*)> own(cap_get_proc(), cap_free);
  if (!own) throw_errno("read own capabilities (cap_get_proc)");
  auto check = [&](const std::vector<std::string>& names, const char* field) {
    for (auto& n : names) {
      auto v = oci::capability_value(n);
      if (!v || !CAP_IS_SUPPORTED(*v)) continue;
      cap_flag_value_t held = CAP_CLEAR;
      if (cap_get_flag(own.get(), static_cast<cap_value_t>(*v), CAP_PERMITTED, &held) != 0)
        throw_errno("read own capability " + n + " (cap_get_flag)");
      if (held != CAP_SET)
        throw SysError(EPERM, std::string("process.capabilities.") + field + ": " + n +
                                  " cannot be granted: cryo does not hold it here (the host withholds it)");
    }
  };
  check(p.capabilities->permitted, "permitted");
  check(p.capabilities->effective, "effective");
}

void apply_user_and_capabilities(const oci::Process& p) {
  if (p.capabilities) drop_bounding(cap_set_of(p.capabilities->bounding));
  std::vector<gid_t> groups(p.user.additional_gids.begin(), p.user.additional_gids.end());
  // setgroups is refused in a user namespace that denies it; only fail when groups were asked for.
  if (::setgroups(groups.size(), groups.data()) != 0 && (!groups.empty() || errno != EPERM))
    throw_errno("setgroups (process.user.additionalGids)");
  if (::prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0) throw_errno("prctl(PR_SET_KEEPCAPS)");
  if (::setresgid(p.user.gid, p.user.gid, p.user.gid) != 0)
    throw_errno("setresgid " + std::to_string(p.user.gid) + " (process.user.gid)");
  if (::setresuid(p.user.uid, p.user.uid, p.user.uid) != 0)
    throw_errno("setresuid " + std::to_string(p.user.uid) + " (process.user.uid)");
  if (::prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) != 0) throw_errno("prctl(PR_SET_KEEPCAPS)");
  // Like runc: without a capabilities object the process keeps what it has.
  if (p.capabilities) set_sets(*p.capabilities);
  if (p.user.umask) ::umask(*p.user.umask);
  if (p.no_new_privileges && ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) throw_errno("prctl(PR_SET_NO_NEW_PRIVS)");
}

}  // namespace cryo::runtime
