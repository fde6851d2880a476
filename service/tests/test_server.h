// Fixture: a real Server on a temporary unix socket, backed by the FakeEngine.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "base/file.h"
#include "service/http_unix.h"
#include "service/server.h"
#include "service/tests/fake_engine.h"

namespace cryo::service::testing {

using json = nlohmann::json;

struct Reply {
  int status = 0;
  std::string body;
  json j;  // parsed body (null when not JSON)
  std::string error_code() const { return j.is_object() && j.contains("error") ? j["error"].value("code", "") : ""; }
  std::string error_message() const {
    return j.is_object() && j.contains("error") ? j["error"].value("message", "") : "";
  }
};

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/cryo-svc-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    world_ = std::make_shared<FakeWorld>();
    options_.socket_path = dir_ + "/cryod.sock";
    options_.state_dir = dir_ + "/state";
    options_.max_json_body = 64 * 1024;
    options_.max_file_body = 1 << 20;
  }
  void TearDown() override {
    server_.reset();
    remove_tree(dir_);
  }

  void start() {
    server_ = std::make_unique<Server>(options_, std::make_unique<FakeEngine>(world_));
    server_->start();
  }
  // A cryod restart: the "sentries" (world_) live on, the server and its memory do not.
  void restart() {
    server_.reset();
    start();
  }

  static Reply wrap(const httplib::Result& r) {
    Reply out;
    if (!r) {
      ADD_FAILURE() << "request failed: " << httplib::to_string(r.error());
      return out;
    }
    out.status = r->status;
    out.body = r->body;
    out.j = json::parse(r->body, nullptr, false);
    if (out.j.is_discarded()) out.j = nullptr;
    return out;
  }

  // A fresh connection per request: tests run requests from many threads.
  std::unique_ptr<UnixHttpClient> client() {
    auto c = std::make_unique<UnixHttpClient>(options_.socket_path);
    c->set_read_timeout(30, 0);
    return c;
  }
  Reply get(const std::string& path) { return wrap(client()->Get(path.c_str())); }
  Reply del(const std::string& path) { return wrap(client()->Delete(path.c_str())); }
  Reply post(const std::string& path, const std::string& body = "") {
    return wrap(client()->Post(path.c_str(), body, "application/json"));
  }
  Reply post(const std::string& path, const json& body) { return post(path, body.dump()); }
  Reply put(const std::string& path, const std::string& body) {
    return wrap(client()->Put(path.c_str(), body, "application/octet-stream"));
  }

  std::string create_sandbox(const json& body = json::object()) {
    auto r = post("/v1/sandboxes", body);
    EXPECT_EQ(r.status, 201) << r.body;
    return r.j.value("sandbox_id", "");
  }

  std::string dir_;
  std::shared_ptr<FakeWorld> world_;
  ServerOptions options_;
  std::unique_ptr<Server> server_;
};

}  // namespace cryo::service::testing
