#include "checkpoint/criu_rpc.h"

namespace cryo::checkpoint {
namespace {

criu::criu_cg_mode cg_mode(CgroupMode m) {
  switch (m) {
    case CgroupMode::Ignore: return criu::IGNORE;
    case CgroupMode::None: return criu::CG_NONE;
    case CgroupMode::Props: return criu::PROPS;
    case CgroupMode::Soft: return criu::SOFT;
    case CgroupMode::Full: return criu::FULL;
    case CgroupMode::Strict: return criu::STRICT;
    case CgroupMode::Default: return criu::DEFAULT;
  }
  throw Error("unknown cgroup mode");
}

criu::criu_network_lock_method lock_method(NetworkLock m) {
  switch (m) {
    case NetworkLock::Iptables: return criu::IPTABLES;
    case NetworkLock::Nftables: return criu::NFTABLES;
    case NetworkLock::Skip: return criu::SKIP;
  }
  throw Error("unknown network lock method");
}

void set_images_and_logs(const CommonOptions& o, const std::string& request, criu::criu_opts& p) {
  if (o.images_dir_fd < 0 && o.images_dir.empty())
    throw Error("criu " + request + ": no images directory given (images_dir_fd or images_dir)");
  p.set_images_dir_fd(o.images_dir_fd);
  if (o.images_dir_fd < 0) p.set_images_dir(o.images_dir);
  if (o.work_dir_fd >= 0) p.set_work_dir_fd(o.work_dir_fd);
  std::string log = o.log_file.empty() ? request + ".log" : o.log_file;
  // CRIU refuses subdirectories in the log name; say so before starting it.
  if (log.find('/') != std::string::npos)
    throw Error("criu " + request + ": log_file `" + log + "` must be a plain name in the work dir");
  p.set_log_file(log);
  p.set_log_level(o.log_level);
}

void set_flags(const CommonOptions& o, criu::criu_opts& p) {
  if (o.empty_ns) p.set_empty_ns(o.empty_ns);
  // Only send what differs from CRIU's defaults, so the request reads like the command line would.
  if (o.tcp_established) p.set_tcp_established(true);
  if (o.ext_unix_sk) p.set_ext_unix_sk(true);
  if (o.shell_job) p.set_shell_job(true);
  if (o.file_locks) p.set_file_locks(true);
  if (o.link_remap) p.set_link_remap(true);
  if (o.orphan_pts_master) p.set_orphan_pts_master(true);
  if (o.lazy_pages) p.set_lazy_pages(true);
  if (o.notify_scripts) p.set_notify_scripts(true);
  if (o.status_fd >= 0) p.set_status_fd(o.status_fd);
  if (o.network_lock) p.set_network_lock(lock_method(*o.network_lock));
  if (o.manage_cgroups) {
    p.set_manage_cgroups(*o.manage_cgroups != CgroupMode::Ignore);
    p.set_manage_cgroups_mode(cg_mode(*o.manage_cgroups));
  }
  if (o.page_server) {
    auto* ps = p.mutable_ps();
    if (!o.page_server->address.empty()) ps->set_address(o.page_server->address);
    ps->set_port(o.page_server->port);
    if (o.page_server->fd >= 0) ps->set_fd(o.page_server->fd);
  }
  if (!o.lsm_profile.empty()) p.set_lsm_profile(o.lsm_profile);
  if (!o.lsm_mount_context.empty()) p.set_lsm_mount_context(o.lsm_mount_context);
  if (!o.config_file.empty()) p.set_config_file(o.config_file);
}

void set_lists(const CommonOptions& o, criu::criu_opts& p) {
  for (const auto& m : o.ext_mounts) {
    auto* e = p.add_ext_mnt();
    e->set_key(m.key);
    e->set_val(m.value);
  }
  for (const auto& e : o.external) p.add_external(e);
  for (const auto& fs : o.enable_fs) p.add_enable_fs(fs);
  for (const auto& m : o.skip_mnt) p.add_skip_mnt(m);
  for (const auto& r : o.cgroup_roots) {
    auto* cg = p.add_cg_root();
    if (!r.controller.empty()) cg->set_ctrl(r.controller);
    cg->set_path(r.path);
  }
}

criu::criu_opts common(const CommonOptions& o, const std::string& request) {
  criu::criu_opts p;
  set_images_and_logs(o, request, p);
  set_flags(o, p);
  set_lists(o, p);
  return p;
}

}  // namespace

criu::criu_opts to_proto(const DumpOptions& o, const std::string& request) {
  // pid 0 means "dump the requesting process" to CRIU: never what a caller of ours wants.
  if (o.pid <= 0) throw Error("criu " + request + ": no pid given to dump");
  criu::criu_opts p = common(o, request);
  p.set_pid(o.pid);
  if (!o.parent_image.empty()) p.set_parent_img(o.parent_image);
  if (o.leave_running) p.set_leave_running(true);
  if (o.track_mem) p.set_track_mem(true);
  if (o.auto_dedup) p.set_auto_dedup(true);
  if (o.tcp_skip_in_flight) p.set_tcp_skip_in_flight(true);
  if (!o.freeze_cgroup.empty()) p.set_freeze_cgroup(o.freeze_cgroup);
  if (o.pre_dump_mode)
    p.set_pre_dump_mode(*o.pre_dump_mode == PreDumpMode::Splice ? criu::SPLICE : criu::VM_READ);
  if (o.ghost_limit) p.set_ghost_limit(*o.ghost_limit);
  return p;
}

criu::criu_opts to_proto(const RestoreOptions& o, const std::string& request) {
  criu::criu_opts p = common(o, request);
  if (!o.root.empty()) p.set_root(o.root);
  if (o.rst_sibling) p.set_rst_sibling(true);
  for (const auto& f : o.inherit_fds) {
    if (f.fd < 0) throw Error("criu " + request + ": inherit_fd `" + f.key + "` has no descriptor");
    auto* i = p.add_inherit_fd();
    i->set_key(f.key);
    i->set_fd(f.fd);
  }
  for (const auto& ns : o.join_ns) {
    auto* j = p.add_join_ns();
    j->set_ns(ns.ns);
    j->set_ns_file(ns.ns_file);
    if (!ns.extra_opt.empty()) j->set_extra_opt(ns.extra_opt);
  }
  if (o.tcp_close) p.set_tcp_close(true);
  return p;
}

criu::criu_req make_request(criu::criu_req_type type) {
  criu::criu_req req;
  req.set_type(type);
  return req;
}

std::string request_name(criu::criu_req_type type) {
  switch (type) {
    case criu::EMPTY: return "empty";
    case criu::DUMP: return "dump";
    case criu::RESTORE: return "restore";
    case criu::CHECK: return "check";
    case criu::PRE_DUMP: return "pre-dump";
    case criu::PAGE_SERVER: return "page-server";
    case criu::NOTIFY: return "notify";
    case criu::CPUINFO_DUMP: return "cpuinfo-dump";
    case criu::CPUINFO_CHECK: return "cpuinfo-check";
    case criu::FEATURE_CHECK: return "feature-check";
    case criu::VERSION: return "version";
    case criu::WAIT_PID: return "wait-pid";
    case criu::PAGE_SERVER_CHLD: return "page-server-chld";
    case criu::SINGLE_PRE_DUMP: return "pre-dump";
  }
  return "request " + std::to_string(static_cast<int>(type));
}

CriuVersion from_proto(const criu::criu_version& v) {
  CriuVersion out;
  out.major = v.major_number();
  out.minor = v.minor_number();
  out.sublevel = v.has_sublevel() ? v.sublevel() : 0;
  out.gitid = v.gitid();
  return out;
}

CriuFeatures from_proto(const criu::criu_features& f) {
  return CriuFeatures{f.mem_track(), f.lazy_pages(), f.pidfd_store()};
}

}  // namespace cryo::checkpoint
