// depends_on condition service_completed_successfully: one-shot containers (migrations, init
// jobs) through the real engine against a real dockerd. Unique environment per run; Run's
// RAII cleanup removes everything.
#include <catch2/catch.hpp>

#include <chrono>

#include "engine_fixture.h"

using namespace tend;
using namespace tend::dockertest;
using nlohmann::json;

namespace {

// migrate (one_shot, as the spec expansion marks it) and web waiting for it to exit 0.
std::vector<DesiredResource> migrateAndWeb(const Run& run, const std::string& app, const std::string& script) {
  auto migrate = run.container(app, "migrate",
                               {{"command", {"sh", "-c", script}}, {"one_shot", true}}, false);
  auto web = run.container(
      app, "web",
      {{"depends_on",
        {{"migrate", {{"condition", "service_completed_successfully"}, {"id", migrate.id}}}}}},
      false);
  web.dependsOn.push_back(migrate.id);
  web = run.finish(web);
  return {migrate, web};
}

// A fresh environment with that app (migrate runs `script`) under the real engine.
struct OneShotApp {
  Run run;
  std::unique_ptr<Provider> p;
  std::string app;
  std::vector<DesiredResource> rs;
  std::unique_ptr<EngineRun> er;
  explicit OneShotApp(const std::string& script) {
    requireDockerd();
    REQUIRE(makeImage(run.image));
    p = makeTestProvider(run.env);
    app = run.env;
    rs = migrateAndWeb(run, app, script);
    er = std::make_unique<EngineRun>(run, *p, rs);
  }
};

}  // namespace

TEST_CASE("a one-shot that exits 0 is ready, releases service_completed_successfully dependents "
          "and is not restarted on later passes (real engine, real dockerd)",
          "[docker][integration][depends_on][oneshot]") {
  OneShotApp t("echo done; exit 0");
  auto& [run, p, app, rs, erp] = t;
  EngineRun& er = *erp;

  auto r1 = er.pass();
  CHECK(r1.result == "success");
  CHECK(run.inspect(app + "-migrate", "{{.State.Status}} {{.State.ExitCode}}") == "exited 0");
  CHECK(run.inspect(app + "-web", "{{.State.Running}}") == "true");
  CHECK(er.status(rs[0].id).phase == "ready");
  CHECK(er.status(rs[0].id).message.find("exited 0") != std::string::npos);
  CHECK(er.status(rs[1].id).phase == "ready");
  // web started only after migrate finished.
  std::string migFinished = run.inspect(app + "-migrate", "{{.State.FinishedAt}}");
  std::string webStarted = run.inspect(app + "-web", "{{.State.StartedAt}}");
  CHECK(webStarted >= migFinished);  // RFC 3339 with the same zone: lexical order is time order
  std::string id1 = run.inspect(app + "-migrate", "{{.Id}}");

  // Second pass: a no-op; the exited one-shot is neither drift nor restarted.
  auto r2 = er.pass();
  CHECK(r2.result == "success");
  CHECK(r2.changed == 0);
  CHECK(run.inspect(app + "-migrate", "{{.Id}}") == id1);
  CHECK(run.inspect(app + "-migrate", "{{.State.FinishedAt}}") == migFinished);
  CHECK_FALSE(er.status(rs[0].id).drifted);

  // Removed outside tend: created and run again.
  sh(dockerCmd(run.sock) + " rm -f " + app + "-migrate >/dev/null 2>&1");
  auto r3 = er.pass();
  CHECK(r3.result == "success");
  std::string id3 = run.inspect(app + "-migrate", "{{.Id}}");
  CHECK(!id3.empty());
  CHECK(id3 != id1);
  CHECK(run.inspect(app + "-migrate", "{{.State.Status}} {{.State.ExitCode}}") == "exited 0");

  // Spec change: recreated and run again.
  auto rs2 = migrateAndWeb(run, app, "echo done again; exit 0");
  EngineRun er2(run, *p, rs2);
  auto r4 = er2.pass();
  CHECK(r4.result == "success");
  std::string id4 = run.inspect(app + "-migrate", "{{.Id}}");
  CHECK(id4 != id3);
  CHECK(run.inspect(app + "-migrate", "{{.State.Status}} {{.State.ExitCode}}") == "exited 0");
}

TEST_CASE("a one-shot that exits non-zero fails with its exit code and its dependent stays blocked "
          "(real engine, real dockerd)",
          "[docker][integration][depends_on][oneshot]") {
  OneShotApp t("echo failing; exit 3");
  auto& [run, p, app, rs, erp] = t;
  EngineRun& er = *erp;

  auto r1 = er.pass();
  CHECK(r1.result != "success");
  auto mig = er.status(rs[0].id);
  CHECK(mig.phase == "failed");
  CHECK(mig.message.find("exited with code 3") != std::string::npos);
  CHECK(er.status(rs[1].id).phase != "ready");
  CHECK(run.inspect(app + "-web", "{{.Id}}").empty());  // never created
  std::string finished = run.inspect(app + "-migrate", "{{.State.FinishedAt}}");

  // A later pass does not re-run it (only a spec change or removal does).
  // Nor does it count as a change or an apply: it stays failed from observation alone.
  auto r2 = er.pass();
  CHECK(r2.result != "success");
  CHECK(r2.changed == 0);
  CHECK(r2.failed == 1);
  CHECK(er.status(rs[0].id).phase == "failed");
  CHECK(er.status(rs[0].id).message.find("exited with code 3") != std::string::npos);
  CHECK(run.inspect(app + "-migrate", "{{.State.FinishedAt}}") == finished);
  CHECK(run.inspect(app + "-web", "{{.Id}}").empty());

  // Plan (pure) of an exited-0 one-shot is a no-op and not drift; of one observed failed
  // (current spec, exited non-zero) a no-op too (the engine reports it failed); of an exit
  // not attributed to the current spec a non-drift update whose apply fails terminally.
  ObservedResource o;
  o.id = rs[0].id;
  o.exists = o.owned = true;
  o.appliedHash = rs[0].hash;
  o.state = {{"state", "exited"}, {"exit_code", 0}, {"one_shot", true}};
  PlanRequest pr;
  pr.desired = &rs[0];
  pr.observed = &o;
  auto pl = p->plan(pr);
  CHECK(pl.action == Action::Noop);
  CHECK_FALSE(pl.drift);
  o.state["exit_code"] = 3;
  o.failed = true;
  pl = p->plan(pr);
  CHECK(pl.action == Action::Noop);
  CHECK_FALSE(pl.drift);
  CHECK(pl.reason.find("code 3") != std::string::npos);
  o.failed = false;
  pl = p->plan(pr);
  CHECK(pl.action == Action::Update);
  CHECK_FALSE(pl.drift);
  CHECK(pl.reason.find("code 3") != std::string::npos);
}
