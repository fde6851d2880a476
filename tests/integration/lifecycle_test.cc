// The runc-compatible lifecycle: run, create/start/state/kill/delete, exec, pause/resume, hooks,
// console socket, fds, ps/list/update/events/features, Go-style flags.
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <sstream>
#include <filesystem>
#include <thread>

#include "tests/integration/runtime_fixture.h"

namespace cryo::it {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// ---- run ------------------------------------------------------------------------------------

TEST_F(RuntimeTest, RunReturnsTheExitCode) {
  Outcome ok = run_container({"sh", "-c", "exit 0"});
  EXPECT_EQ(ok.code, 0) << ok.text();
  Outcome three = run_container({"sh", "-c", "exit 3"});
  EXPECT_EQ(three.code, 3) << three.text();
}

TEST_F(RuntimeTest, RunReturns128PlusTheSignal) {
  // Inside its own pid namespace pid 1 ignores its own signals: kill it from outside.
  set_args({"sleep", "1000"});
  std::string id = new_id();
  Spawned run = spawn_cmd({CRYO_BIN, "--root", state_root_, "run", "--bundle", bundle_, id});
  ASSERT_TRUE(wait_status(id, "running")) << status(id);
  Outcome k = cryo({"kill", id, "KILL"});
  EXPECT_EQ(k.code, 0) << k.text();
  Outcome r = wait_spawned(run);
  EXPECT_EQ(r.code, 128 + 9) << r.text();
}

TEST_F(RuntimeTest, RunForwardsSignalsToTheInit) {
  set_args({"sh", "-c", "trap 'exit 42' TERM; while true; do sleep 0.05; done"});
  std::string id = new_id();
  Spawned run = spawn_cmd({CRYO_BIN, "--root", state_root_, "run", "--bundle", bundle_, id});
  ASSERT_TRUE(wait_status(id, "running")) << status(id);
  // The trap is set once sh runs its script; resend until the run exits.
  Outcome r;
  for (int i = 0; i < 200; ++i) {
    ::kill(run.pid, SIGTERM);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (status(id) != "running") break;
  }
  r = wait_spawned(run);
  EXPECT_EQ(r.code, 42) << r.text();
}

TEST_F(RuntimeTest, RunWithoutPidNamespaceReportsTheSignal) {
  auto& ns = config_["linux"]["namespaces"];
  for (size_t i = 0; i < ns.size(); ++i)
    if (ns[i]["type"] == "pid") ns.erase(i);
  Outcome r = run_container({"sh", "-c", "kill -KILL $$"});
  EXPECT_EQ(r.code, 128 + 9) << r.text();
}

TEST_F(RuntimeTest, StdoutAndStderrReachTheCaller) {
  Outcome r = run_container({"sh", "-c", "echo to-out; echo to-err >&2"});
  EXPECT_EQ(r.code, 0) << r.text();
  EXPECT_EQ(r.out, "to-out\n");
  EXPECT_NE(r.err.find("to-err"), std::string::npos) << r.text();
}

TEST_F(RuntimeTest, StdinReachesTheContainer) {
  set_args({"cat"});
  Outcome r = cryo({"run", "--bundle", bundle_, new_id()}, {"piped-in\n"});
  EXPECT_EQ(r.code, 0) << r.text();
  EXPECT_EQ(r.out, "piped-in\n");
}

// ---- create / start / state / kill / delete --------------------------------------------------

TEST_F(RuntimeTest, CreateStartStateKillDelete) {
  set_args({"sleep", "1000"});
  std::string id = new_id();
  std::string pid_file = dir_ + "/pid";
  Outcome c = cryo({"create", "--bundle", bundle_, "--pid-file", pid_file, id});
  ASSERT_EQ(c.code, 0) << c.text();

  json s = state(id);
  ASSERT_FALSE(s.is_null());
  EXPECT_EQ(s["status"], "created");
  EXPECT_EQ(s["id"], id);
  EXPECT_EQ(s["bundle"], fs::canonical(bundle_).string());
  EXPECT_EQ(s["ociVersion"], config_["ociVersion"]);
  int pid = s["pid"];
  EXPECT_GT(pid, 0);
  EXPECT_EQ(trim(read_text(pid_file)), std::to_string(pid));
  EXPECT_TRUE(fs::exists("/proc/" + std::to_string(pid)));
  EXPECT_TRUE(s.contains("rootfs"));
  EXPECT_TRUE(s.contains("created"));

  // A created container cannot be started twice, but start works once.
  Outcome st = cryo({"start", id});
  ASSERT_EQ(st.code, 0) << st.text();
  EXPECT_EQ(status(id), "running");
  EXPECT_EQ(state(id)["pid"], pid);
  Outcome again = cryo({"start", id});
  EXPECT_NE(again.code, 0);
  EXPECT_NE(again.err.find("running"), std::string::npos) << again.text();

  // delete refuses a running container without --force.
  Outcome del = cryo({"delete", id});
  EXPECT_NE(del.code, 0);
  EXPECT_EQ(status(id), "running");

  Outcome k = cryo({"kill", id, "SIGKILL"});
  EXPECT_EQ(k.code, 0) << k.text();
  ASSERT_TRUE(wait_status(id, "stopped")) << status(id);
  EXPECT_EQ(state(id)["pid"], 0);
  // A stopped container cannot be killed (runc: "container not running").
  EXPECT_NE(cryo({"kill", id, "KILL"}).code, 0);

  Outcome d = cryo({"delete", id});
  EXPECT_EQ(d.code, 0) << d.text();
  EXPECT_NE(cryo({"state", id}).code, 0);
  expect_nothing_left(id);
}

TEST_F(RuntimeTest, KillDefaultsToTermAndAcceptsNumbers) {
  std::string id = start_detached({"sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.05; done"});
  ASSERT_TRUE(wait_status(id, "running"));
  // Let sh install its trap (the status says running as soon as it exec'd).
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(cryo({"kill", id}).code, 0);
  EXPECT_TRUE(wait_status(id, "stopped"));
  std::string id2 = start_detached({"sleep", "1000"});
  EXPECT_EQ(cryo({"kill", id2, "9"}).code, 0);
  EXPECT_TRUE(wait_status(id2, "stopped"));
  EXPECT_NE(cryo({"kill", id2, "NOTASIGNAL"}).code, 0);
}

TEST_F(RuntimeTest, KillAllSignalsEveryProcess) {
  std::string id = start_detached({"sh", "-c", "sleep 1000 & sleep 1000 & wait"});
  ASSERT_TRUE(wait_status(id, "running"));
  Outcome k = cryo({"kill", "--all", id, "KILL"});
  EXPECT_EQ(k.code, 0) << k.text();
  EXPECT_TRUE(wait_status(id, "stopped"));
}

TEST_F(RuntimeTest, DeleteForceOfARunningContainer) {
  std::string id = start_detached({"sleep", "1000"});
  ASSERT_EQ(status(id), "running");
  pid_t pid = state(id)["pid"];
  Outcome d = cryo({"delete", "--force", id});
  EXPECT_EQ(d.code, 0) << d.text();
  expect_nothing_left(id);
  EXPECT_FALSE(fs::exists("/proc/" + std::to_string(pid) + "/cmdline") &&
               read_text("/proc/" + std::to_string(pid) + "/cmdline").find("sleep") != std::string::npos);
  // runc: delete --force of a missing container succeeds; plain delete fails.
  EXPECT_EQ(cryo({"delete", "--force", id}).code, 0);
  EXPECT_NE(cryo({"delete", id}).code, 0);
}

TEST_F(RuntimeTest, DuplicateIdIsRefused) {
  std::string id = start_detached({"sleep", "1000"});
  Outcome r = cryo({"create", "--bundle", bundle_, id});
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find(id), std::string::npos) << r.text();
  EXPECT_EQ(status(id), "running");
}

TEST_F(RuntimeTest, ListAndPsAsJson) {
  std::string id = start_detached({"sh", "-c", "sleep 1000 & exec sleep 1001"});
  ASSERT_TRUE(wait_status(id, "running"));
  pid_t init = state(id)["pid"];

  Outcome l = cryo({"list", "--format", "json"});
  ASSERT_EQ(l.code, 0) << l.text();
  json all = json::parse(l.out);
  ASSERT_TRUE(all.is_array());
  bool found = false;
  for (auto& c : all)
    if (c["id"] == id) {
      found = true;
      EXPECT_EQ(c["status"], "running");
      EXPECT_EQ(c["pid"], init);
      EXPECT_EQ(c["bundle"], fs::canonical(bundle_).string());
    }
  EXPECT_TRUE(found) << l.out;
  Outcome q = cryo({"list", "-q"});
  EXPECT_NE(q.out.find(id), std::string::npos);

  // ps shows the init and its child (the `sleep 1000` started in the background).
  std::vector<pid_t> pids;
  for (int i = 0; i < 100 && pids.size() < 2; ++i) {
    Outcome p = cryo({"ps", "--format", "json", id});
    ASSERT_EQ(p.code, 0) << p.text();
    pids = json::parse(p.out).get<std::vector<pid_t>>();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(pids.size(), 2u);
  EXPECT_NE(std::find(pids.begin(), pids.end(), init), pids.end());
}

TEST_F(RuntimeTest, ListOfAnEmptyRoot) {
  Outcome l = cryo({"list", "--format", "json"});
  EXPECT_EQ(l.code, 0) << l.text();
  EXPECT_EQ(json::parse(l.out), json::array());
}

// ---- exec -------------------------------------------------------------------------------------

TEST_F(RuntimeTest, ExecSharesThePidNamespaceAndHostname) {
  config_["hostname"] = "exec-host";
  std::string id = start_detached({"sleep", "1000"});
  Outcome r = cryo({"exec", id, "sh", "-c", "hostname; cat /proc/1/cmdline | tr '\\0' ' '; echo; echo $$"});
  ASSERT_EQ(r.code, 0) << r.text();
  std::istringstream lines(r.out);
  std::string host, init_cmd, self;
  std::getline(lines, host);
  std::getline(lines, init_cmd);
  std::getline(lines, self);
  EXPECT_EQ(host, "exec-host");
  EXPECT_EQ(trim(init_cmd), "sleep 1000");
  EXPECT_NE(self, "1");
  EXPECT_LT(std::stoi(self), 100);  // a pid of the container's namespace, not the host's
}

TEST_F(RuntimeTest, ExecExitCodePropagates) {
  std::string id = start_detached({"sleep", "1000"});
  EXPECT_EQ(cryo({"exec", id, "sh", "-c", "exit 7"}).code, 7);
  EXPECT_EQ(cryo({"exec", id, "true"}).code, 0);
  Outcome missing = cryo({"exec", id, "/no/such/binary"});
  EXPECT_NE(missing.code, 0);
  EXPECT_NE(missing.err.find("/no/such/binary"), std::string::npos) << missing.text();
}

TEST_F(RuntimeTest, ExecKeepsTheCommandsFlags) {
  std::string id = start_detached({"sleep", "1000"});
  Outcome r = cryo({"exec", id, "ls", "-la", "/"});
  ASSERT_EQ(r.code, 0) << r.text();
  EXPECT_NE(r.out.find("drwx"), std::string::npos) << r.out;  // -l output
  EXPECT_NE(r.out.find(" .."), std::string::npos) << r.out;   // -a output
}

TEST_F(RuntimeTest, ExecEnvCwdUser) {
  std::string id = start_detached({"sleep", "1000"});
  Outcome e = cryo({"exec", "-e", "FOO=bar", "--env", "BAZ=qux", id, "sh", "-c", "echo $FOO-$BAZ"});
  EXPECT_EQ(trim(e.out), "bar-qux") << e.text();
  Outcome c = cryo({"exec", "--cwd", "/etc", id, "pwd"});
  EXPECT_EQ(trim(c.out), "/etc") << c.text();
  Outcome u = cryo({"exec", "-u", "1000", id, "sh", "-c", "id -u; id -g"});
  EXPECT_EQ(u.out, "1000\n0\n") << u.text();
  Outcome ug = cryo({"exec", "--user", "1000:1001", id, "id", "-g"});
  EXPECT_EQ(trim(ug.out), "1001") << ug.text();
}

TEST_F(RuntimeTest, ExecWithAProcessJson) {
  std::string id = start_detached({"sleep", "1000"});
  json proc = config_["process"];
  proc["args"] = {"sh", "-c", "echo from-json $X"};
  proc["env"].push_back("X=1");
  write_text(dir_ + "/process.json", proc.dump());
  Outcome r = cryo({"exec", "--process", dir_ + "/process.json", id});
  EXPECT_EQ(trim(r.out), "from-json 1") << r.text();
}

TEST_F(RuntimeTest, ExecDetachedAndPidFile) {
  std::string id = start_detached({"sleep", "1000"});
  Outcome r = cryo({"exec", "-d", "--pid-file", dir_ + "/exec.pid", id, "sleep", "999"});
  ASSERT_EQ(r.code, 0) << r.text();
  std::string pid = trim(read_text(dir_ + "/exec.pid"));
  ASSERT_FALSE(pid.empty());
  EXPECT_NE(read_text("/proc/" + pid + "/cmdline").find("999"), std::string::npos);
}

TEST_F(RuntimeTest, ExecIntoAStoppedContainerFails) {
  std::string id = start_detached({"true"});
  ASSERT_TRUE(wait_status(id, "stopped"));
  Outcome r = cryo({"exec", id, "true"});
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("stopped"), std::string::npos) << r.text();
}

// ---- pause / resume ---------------------------------------------------------------------------

TEST_F(RuntimeTest, PauseStopsTheContainerAndResumeContinuesIt) {
  add_tmpfs("/tmp");
  std::string id = start_detached({"sh", "-c", "i=0; while true; do i=$((i+1)); echo $i > /tmp/counter; done"});
  pid_t pid = state(id)["pid"];
  std::string counter = "/proc/" + std::to_string(pid) + "/root/tmp/counter";
  auto value = [&] { return trim(read_text(counter)); };
  auto advances = [&] {
    std::string first = value();
    for (int i = 0; i < 500; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      std::string now = value();
      if (!now.empty() && now != first) return true;
    }
    return false;
  };
  ASSERT_TRUE(advances());

  Outcome p = cryo({"pause", id});
  ASSERT_EQ(p.code, 0) << p.text();
  EXPECT_EQ(status(id), "paused");
  std::string frozen = value();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(value(), frozen);
  EXPECT_NE(cryo({"pause", id}).code, 0);  // already paused

  Outcome r = cryo({"resume", id});
  ASSERT_EQ(r.code, 0) << r.text();
  EXPECT_EQ(status(id), "running");
  EXPECT_TRUE(advances());
  EXPECT_NE(cryo({"resume", id}).code, 0);  // not paused any more
}

TEST_F(RuntimeTest, DeleteForceOfAPausedContainer) {
  std::string id = start_detached({"sleep", "1000"});
  ASSERT_EQ(cryo({"pause", id}).code, 0);
  EXPECT_EQ(status(id), "paused");
  Outcome d = cryo({"delete", "--force", id});
  EXPECT_EQ(d.code, 0) << d.text();
  expect_nothing_left(id);
}

// ---- update / events / features -----------------------------------------------------------------

TEST_F(RuntimeTest, UpdatePidsLimit) {
  std::string id = start_detached({"sleep", "1000"});
  Outcome u = cryo({"update", "--pids-limit", "42", id});
  ASSERT_EQ(u.code, 0) << u.text();
  std::string pids_max;
  for (auto& d : cgroup_dirs(id))
    if (fs::exists(d + "/pids.max")) pids_max = trim(read_text(d + "/pids.max"));
  EXPECT_EQ(pids_max, "42");
  // From inside, forking beyond the new limit fails.
  ASSERT_EQ(cryo({"update", "--pids-limit", "5", id}).code, 0);
  Outcome f = cryo({"exec", id, "it_helper", "fork", "20"});
  EXPECT_NE(f.out.find("fail="), std::string::npos) << f.text();
  EXPECT_EQ(f.out.find("fail=0"), std::string::npos) << f.text();
}

TEST_F(RuntimeTest, UpdateMemoryFromResourcesJson) {
  std::string id = start_detached({"sleep", "1000"});
  write_text(dir_ + "/res.json", R"({"memory": {"limit": 134217728}})");
  Outcome u = cryo({"update", "--resources", dir_ + "/res.json", id});
  ASSERT_EQ(u.code, 0) << u.text();
  json s = json::parse(cryo({"events", "--stats", id}).out);
  EXPECT_EQ(s["data"]["memory"]["usage"]["limit"], 134217728);
  // Docker sends zeros for unset limits: they are ignored.
  EXPECT_EQ(cryo({"update", "--memory", "0", "--pids-limit", "0", id}).code, 0);
}

TEST_F(RuntimeTest, EventsStatsShape) {
  std::string id = start_detached({"sleep", "1000"});
  Outcome e = cryo({"events", "--stats", id});
  ASSERT_EQ(e.code, 0) << e.text();
  json s = json::parse(e.out);
  EXPECT_EQ(s["type"], "stats");
  EXPECT_EQ(s["id"], id);
  ASSERT_TRUE(s["data"].is_object());
  EXPECT_TRUE(s["data"]["cpu"]["usage"]["total"].is_number());
  EXPECT_TRUE(s["data"]["memory"]["usage"]["usage"].is_number());
  EXPECT_GT(s["data"]["memory"]["usage"]["usage"].get<uint64_t>(), 0u);
  EXPECT_GE(s["data"]["pids"]["current"].get<int>(), 1);
}

TEST_F(RuntimeTest, FeaturesJson) {
  Outcome f = cryo({"features"});
  ASSERT_EQ(f.code, 0) << f.text();
  json j = json::parse(f.out);
  EXPECT_EQ(j["ociVersionMin"], "1.0.0");
  EXPECT_TRUE(j["ociVersionMax"].is_string());
  EXPECT_EQ(j["hooks"].size(), 6u);
  EXPECT_TRUE(j["mountOptions"].is_array());
  for (const char* ns : {"cgroup", "ipc", "mount", "network", "pid", "user", "uts"})
    EXPECT_NE(std::find(j["linux"]["namespaces"].begin(), j["linux"]["namespaces"].end(), ns),
              j["linux"]["namespaces"].end())
        << ns;
  EXPECT_NE(std::find(j["linux"]["capabilities"].begin(), j["linux"]["capabilities"].end(), "CAP_SYS_ADMIN"),
            j["linux"]["capabilities"].end());
  EXPECT_TRUE(j["linux"]["seccomp"]["enabled"].get<bool>());
  EXPECT_TRUE(j["linux"]["cgroup"]["v1"].is_boolean());
}

TEST_F(RuntimeTest, GoStyleFlags) {
  set_args({"sh", "-c", "exit 5"});
  std::string id = new_id();
  Outcome r = run_cmd({CRYO_BIN, "-root", state_root_, "run", "-bundle", bundle_, "-no-subreaper", id});
  EXPECT_EQ(r.code, 5) << r.text();
  std::string id2 = new_id();
  Outcome r2 = run_cmd({CRYO_BIN, "--root=" + state_root_, "--log-format", "json", "run", "--bundle=" + bundle_, id2});
  EXPECT_EQ(r2.code, 5) << r2.text();
}

TEST_F(RuntimeTest, ErrorsGoToTheJsonLog) {
  std::string log = dir_ + "/log.json";
  Outcome r = run_cmd({CRYO_BIN, "--root", state_root_, "--log", log, "--log-format", "json", "state", "missing-id"});
  EXPECT_NE(r.code, 0);
  json line = json::parse(trim(read_text(log)));
  EXPECT_EQ(line["level"], "error");
  EXPECT_NE(line["msg"].get<std::string>().find("missing-id"), std::string::npos) << line.dump();
}

// ---- hooks ------------------------------------------------------------------------------------

TEST_F(RuntimeTest, HooksRunInOrderWithTheState) {
  std::string log = dir_ + "/hooks";
  fs::create_directories(log);
  ::chmod(log.c_str(), 0777);
  // Host-side hooks write to the host dir; startContainer runs in the container, through a bind.
  auto hook = [&](const std::string& name, const std::string& where) {
    return json{{"path", "/bin/sh"},
                {"args", {"sh", "-c", "echo " + name + " >> " + where + "/order; cat > " + where + "/" + name + ".json"}}};
  };
  config_["hooks"] = {{"prestart", {hook("prestart", log)}},
                      {"createRuntime", {hook("createRuntime", log)}},
                      {"createContainer", {hook("createContainer", log)}},
                      {"startContainer", {hook("startContainer", "/hooklog")}},
                      {"poststart", {hook("poststart", log)}},
                      {"poststop", {hook("poststop", log)}}};
  add_mount("/hooklog", "bind", log, {"rbind", "rw"});
  set_args({"true"});
  std::string id = new_id();
  Outcome r = cryo({"run", "--bundle", bundle_, id});
  ASSERT_EQ(r.code, 0) << r.text();
  EXPECT_EQ(read_text(log + "/order"),
            "prestart\ncreateRuntime\ncreateContainer\nstartContainer\npoststart\npoststop\n");
  for (const char* name : {"prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"}) {
    std::string text = read_text(log + "/" + name + ".json");
    ASSERT_FALSE(text.empty()) << name;
    json s = json::parse(text);
    EXPECT_EQ(s["id"], id) << name;
    EXPECT_EQ(s["ociVersion"], config_["ociVersion"]) << name;
    if (std::string(name) != "poststop") {
      EXPECT_TRUE(s["pid"].is_number()) << name;
    }
    EXPECT_EQ(s["bundle"], fs::canonical(bundle_).string()) << name;
  }
  EXPECT_EQ(json::parse(read_text(log + "/poststop.json"))["status"], "stopped");
  EXPECT_EQ(json::parse(read_text(log + "/prestart.json"))["status"], "creating");
  EXPECT_EQ(json::parse(read_text(log + "/startContainer.json"))["status"], "created");
  EXPECT_EQ(json::parse(read_text(log + "/poststart.json"))["status"], "running");
}

TEST_F(RuntimeTest, AFailingPrestartHookFailsCreateAndLeavesNothing) {
  config_["hooks"] = {{"prestart", {{{"path", "/bin/sh"}, {"args", {"sh", "-c", "echo hook-says-no >&2; exit 3"}}}}}};
  set_args({"true"});
  std::string id = new_id();
  Outcome r = cryo({"create", "--bundle", bundle_, id});
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("prestart"), std::string::npos) << r.text();
  EXPECT_NE(r.err.find("hook-says-no"), std::string::npos) << r.text();
  expect_nothing_left(id);
}

// A failing poststart or poststop hook is a warning: the hooks after it still run, and so does the
// container's lifecycle (runtime-spec, "Lifecycle" steps 9 and 12).
TEST_F(RuntimeTest, AFailingPoststartOrPoststopHookDoesNotStopTheOthers) {
  std::string log = dir_ + "/hooks";
  fs::create_directories(log);
  auto fails = [](const std::string& name) {
    return json{{"path", "/bin/sh"}, {"args", {"sh", "-c", "echo " + name + "-says-no >&2; exit 3"}}};
  };
  auto writes = [&](const std::string& name) {
    return json{{"path", "/bin/sh"}, {"args", {"sh", "-c", "echo " + name + " >> " + log + "/order"}}};
  };
  config_["hooks"] = {{"poststart", {fails("poststart"), writes("poststart")}},
                      {"poststop", {fails("poststop"), writes("poststop")}}};
  set_args({"sh", "-c", "echo ran"});
  Outcome r = cryo({"run", "--bundle", bundle_, new_id()});
  EXPECT_EQ(r.code, 0) << r.text();
  EXPECT_NE(r.out.find("ran"), std::string::npos) << r.text();
  EXPECT_EQ(read_text(log + "/order"), "poststart\npoststop\n") << r.text();
  EXPECT_NE(r.err.find("warning: poststart hook #0"), std::string::npos) << r.text();
  EXPECT_NE(r.err.find("warning: poststop hook #0"), std::string::npos) << r.text();
}

// ---- console socket and fds ---------------------------------------------------------------------

// A unix socket server that receives one fd (the pty master) over SCM_RIGHTS.
class ConsoleServer {
 public:
  explicit ConsoleServer(const std::string& path) : path_(path) {
    listen_fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
    EXPECT_EQ(::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(::listen(listen_fd_, 1), 0);
  }
  ~ConsoleServer() {
    if (master_ >= 0) ::close(master_);
    ::close(listen_fd_);
  }
  // Accepts the runtime's connection and returns the received fd (-1 on failure).
  int receive() {
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, 30000) != 1) return -1;
    int conn = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (conn < 0) return -1;
    char data[4096];
    char control[CMSG_SPACE(sizeof(int))];
    iovec iov{data, sizeof data};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    ssize_t n = ::recvmsg(conn, &msg, MSG_CMSG_CLOEXEC);
    ::close(conn);
    if (n < 0) return -1;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) std::memcpy(&master_, CMSG_DATA(c), sizeof(int));
    return master_;
  }
  // Everything readable from the master until EOF/EIO or `want` appears.
  std::string read_until(const std::string& want) {
    std::string out;
    for (int i = 0; i < 300 && out.find(want) == std::string::npos; ++i) {
      pollfd p{master_, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      char buf[1024];
      ssize_t n = ::read(master_, buf, sizeof buf);
      if (n <= 0) break;
      out.append(buf, static_cast<size_t>(n));
    }
    return out;
  }

 private:
  std::string path_;
  int listen_fd_ = -1;
  int master_ = -1;
};

TEST_F(RuntimeTest, ConsoleSocketReceivesThePtyMaster) {
  config_["process"]["terminal"] = true;
  set_args({"sh", "-c", "tty; test -t 0 && echo stdin-is-a-tty; echo hello-from-pty; sleep 1000"});
  std::string sock = dir_ + "/console.sock";
  ConsoleServer server(sock);
  std::string id = new_id();
  Spawned run = spawn_cmd({CRYO_BIN, "--root", state_root_, "run", "-d", "--console-socket", sock, "--bundle", bundle_, id});
  int master = server.receive();
  ASSERT_GE(master, 0);
  Outcome r = wait_spawned(run);
  ASSERT_EQ(r.code, 0) << r.text();
  std::string out = server.read_until("hello-from-pty");
  EXPECT_NE(out.find("hello-from-pty"), std::string::npos) << out;
  EXPECT_NE(out.find("stdin-is-a-tty"), std::string::npos) << out;
  EXPECT_TRUE(out.find("/dev/pts/") != std::string::npos || out.find("/dev/console") != std::string::npos) << out;
  Outcome e = cryo({"exec", id, "true"});
  EXPECT_EQ(e.code, 0) << e.text();
}

// Without a mount namespace the root has no /dev/pts of its own: the console is opened from the
// host's /dev/ptmx before the chroot, and still becomes the container's controlling terminal.
TEST_F(RuntimeTest, NoMountNamespaceConsoleSocketReceivesThePtyMaster) {
  auto& nss = config_["linux"]["namespaces"];
  for (auto it = nss.begin(); it != nss.end();) it = (*it)["type"] == "mount" ? nss.erase(it) : it + 1;
  config_.erase("mounts");
  config_["linux"].erase("maskedPaths");
  config_["linux"].erase("readonlyPaths");
  config_["process"]["terminal"] = true;
  set_args({"sh", "-c", "test -t 0 && echo stdin-is-a-tty; echo hello-from-pty; sleep 1000"});
  std::string sock = dir_ + "/console.sock";
  ConsoleServer server(sock);
  std::string id = new_id();
  Spawned run = spawn_cmd({CRYO_BIN, "--root", state_root_, "run", "-d", "--console-socket", sock, "--bundle", bundle_, id});
  ASSERT_GE(server.receive(), 0);
  Outcome r = wait_spawned(run);
  ASSERT_EQ(r.code, 0) << r.text();
  std::string out = server.read_until("hello-from-pty");
  EXPECT_NE(out.find("stdin-is-a-tty"), std::string::npos) << out;
  EXPECT_NE(out.find("hello-from-pty"), std::string::npos) << out;
}

TEST_F(RuntimeTest, ExecWithATty) {
  std::string id = start_detached({"sleep", "1000"});
  std::string sock = dir_ + "/exec-console.sock";
  ConsoleServer server(sock);
  Spawned ex = spawn_cmd({CRYO_BIN, "--root", state_root_, "exec", "-t", "--console-socket", sock, id, "sh", "-c",
                          "tty; echo exec-pty-ok"});
  ASSERT_GE(server.receive(), 0);
  std::string out = server.read_until("exec-pty-ok");
  EXPECT_NE(out.find("exec-pty-ok"), std::string::npos) << out;
  EXPECT_NE(out.find("/dev/pts/"), std::string::npos) << out;
  Outcome r = wait_spawned(ex);
  EXPECT_EQ(r.code, 0) << r.text();
}

TEST_F(RuntimeTest, ForegroundTerminalWithoutConsoleSocketIsAClearError) {
  config_["process"]["terminal"] = true;
  set_args({"true"});
  std::string id = new_id();
  Outcome r = cryo({"run", "--bundle", bundle_, id});
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("terminal"), std::string::npos) << r.text();
  EXPECT_NE(r.err.find("console-socket"), std::string::npos) << r.text();
  expect_nothing_left(id);
}

TEST_F(RuntimeTest, PreserveFds) {
  write_text(dir_ + "/passed", "passed-through\n");
  int fd = ::open((dir_ + "/passed").c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  set_args({"sh", "-c", "cat <&3; ls /proc/self/fd | sort -n | tr '\\n' ' '"});
  RunOptions o;
  o.fds = {{3, fd}};
  Outcome r = cryo({"run", "--preserve-fds", "1", "--bundle", bundle_, new_id()}, o);
  ::close(fd);
  ASSERT_EQ(r.code, 0) << r.text();
  EXPECT_NE(r.out.find("passed-through"), std::string::npos) << r.out;
  // Without --preserve-fds the same fd does not reach the container.
  set_args({"sh", "-c", "cat <&3"});
  int fd2 = ::open((dir_ + "/passed").c_str(), O_RDONLY | O_CLOEXEC);
  o.fds = {{3, fd2}};
  Outcome r2 = cryo({"run", "--bundle", bundle_, new_id()}, o);
  ::close(fd2);
  EXPECT_NE(r2.code, 0) << r2.text();
  EXPECT_EQ(r2.out.find("passed-through"), std::string::npos) << r2.out;
}

}  // namespace
}  // namespace cryo::it
