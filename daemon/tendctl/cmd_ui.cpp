// tendctl ui: a terminal view of a running tendd (ncurses). It reads the same API as the other
// commands: one server-sent event stream (/v1/events?stream=1&status=1) gives the resources and
// their changes and the events, so the screen follows the daemon without refetching anything;
// the detail (/v1/resources/ID?plan=1), the plan (/v1/plan) and reconcile (/v1/reconcile) are
// ordinary calls. Works in 80x24 and over SSH (plain ASCII, colours when the terminal has them).
#include <curses.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <clocale>
#include <ctime>
#include <deque>
#include <iostream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "daemon/client/http_client.h"
#include "daemon/server/auth.h"
#include "daemon/tendctl/commands.h"

namespace tend::ctl {
namespace {
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

std::string s(const json& j, const char* k) {
  if (!j.is_object() || !j.contains(k) || j[k].is_null()) return "";
  return j[k].is_string() ? j[k].get<std::string>() : j[k].dump();
}

struct Res {
  json j;
  Clock::time_point changedAt{};  // when this client saw its phase change (epoch: never)
};

// What the stream thread hands the screen.
struct Inbox {
  std::mutex mu;
  std::deque<daemon::SseMessage> msgs;
  std::string state = "connecting";
  std::atomic<bool> quit{false};
};

volatile std::sig_atomic_t gInterrupted = 0;

enum Pair { kGreen = 1, kYellow, kRed, kHead, kDim };

int phaseAttr(const std::string& p) {
  if (!has_colors()) return p == "failed" || p == "blocked" ? A_BOLD : 0;
  if (p == "ready") return COLOR_PAIR(kGreen);
  if (p == "failed" || p == "blocked") return COLOR_PAIR(kRed) | A_BOLD;
  return COLOR_PAIR(kYellow);
}

std::string ageOf(const Res& r) {
  double secs = -1;
  if (r.changedAt != Clock::time_point{}) {
    secs = std::chrono::duration<double>(Clock::now() - r.changedAt).count();
  } else {
    std::string la = s(r.j, "last_applied");  // 2026-01-02T03:04:05.678Z
    std::tm tm{};
    if (la.size() >= 19 && strptime(la.c_str(), "%Y-%m-%dT%H:%M:%S", &tm)) secs = std::difftime(std::time(nullptr), timegm(&tm));
  }
  if (secs < 0) return "-";
  if (secs < 90) return std::to_string(static_cast<int>(secs)) + "s";
  if (secs < 5400) return std::to_string(static_cast<int>(secs / 60)) + "m";
  if (secs < 129600) return std::to_string(static_cast<int>(secs / 3600)) + "h";
  return std::to_string(static_cast<int>(secs / 86400)) + "d";
}

std::string fit(std::string t, int w) {
  for (auto& c : t)
    if (c == '\n' || c == '\t' || static_cast<unsigned char>(c) < 32) c = ' ';
  if (w <= 0) return "";
  if (static_cast<int>(t.size()) > w) t = t.substr(0, w - 1) + "~";
  return t + std::string(w - t.size(), ' ');
}

class Ui {
 public:
  explicit Ui(daemon::ClientTarget t) : target_(std::move(t)), inbox_(std::make_shared<Inbox>()) {}

  int run() {
    // Recent events first, then the stream from there.
    if (auto r = daemon::httpCall(target_, "GET", "/v1/events?tail=200", "", std::chrono::seconds(10)); r.ok() && r->status == 200) {
      json evs = json::parse(r->body, nullptr, false);
      if (evs.is_array())
        for (auto& e : evs) addEvent(e);
    } else if (!r.ok()) {
      std::cerr << "tendctl: " << r.error().message << "\n";
      return kUnreachable;
    }
    // Blocked in a read most of the time; it owns what it touches, and the process ends with
    // the UI.
    std::thread reader([inbox = inbox_, t = target_, since = lastEventId_] { readStream(inbox, t, since); });
    reader.detach();
    std::signal(SIGINT, [](int) { gInterrupted = 1; });

    std::setlocale(LC_ALL, "");
    initscr();
    cbreak();
    noecho();
    keypad(stdscr, TRUE);
    set_escdelay(25);  // Esc answers at once (over SSH too: sequences arrive in one packet)
    curs_set(0);
    timeout(200);
    if (has_colors()) {
      start_color();
      use_default_colors();
      init_pair(kGreen, COLOR_GREEN, -1);
      init_pair(kYellow, COLOR_YELLOW, -1);
      init_pair(kRed, COLOR_RED, -1);
      init_pair(kHead, COLOR_BLACK, COLOR_CYAN);
      init_pair(kDim, COLOR_BLUE, -1);
    }
    bool dirty = true;
    auto lastPaint = Clock::now();
    while (!inbox_->quit) {
      if (gInterrupted) break;
      if (drain()) dirty = true;
      // Ages tick: repaint at least every 5 s even when nothing arrives.
      if (dirty || Clock::now() - lastPaint > std::chrono::seconds(5)) {
        paint();
        dirty = false;
        lastPaint = Clock::now();
      }
      int ch = getch();
      if (ch == ERR) continue;
      dirty = true;
      key(ch);
    }
    inbox_->quit = true;
    endwin();
    return kOk;
  }

 private:
  // ---- data ---------------------------------------------------------------------------------
  static void readStream(std::shared_ptr<Inbox> inbox, daemon::ClientTarget target, int64_t since) {
    while (!inbox->quit) {
      auto r = daemon::httpStream(target, "/v1/events?stream=1&status=1&since=" + std::to_string(since),
                                  [&](const daemon::SseMessage& m) {
                                    std::lock_guard lk(inbox->mu);
                                    inbox->state = "live";
                                    if (m.id > since) since = m.id;
                                    inbox->msgs.push_back(m);
                                    return !inbox->quit.load();
                                  });
      {
        std::lock_guard lk(inbox->mu);
        inbox->state = r.ok() ? (r->status == 200 ? "reconnecting" : "stream refused: " + r->error)
                              : "disconnected: " + r.error().message;
      }
      std::this_thread::sleep_for(std::chrono::seconds(2));
    }
  }

  void addEvent(const json& e) {
    lastEventId_ = std::max<int64_t>(lastEventId_, e.value("id", int64_t{0}));
    events_.push_back(e);
    if (events_.size() > 500) events_.pop_front();
  }

  bool drain() {
    std::deque<daemon::SseMessage> msgs;
    {
      std::lock_guard lk(inbox_->mu);
      msgs.swap(inbox_->msgs);
      if (connState_ != inbox_->state) {
        connState_ = inbox_->state;
        msgs.push_back({});  // repaint
      }
    }
    if (msgs.empty()) return false;
    for (auto& m : msgs) {
      if (m.data.empty()) continue;
      json d = json::parse(m.data, nullptr, false);
      if (d.is_discarded()) continue;
      if (m.event.empty()) {
        addEvent(d);
        if (!detailId_.empty() && s(d, "resource") == detailId_) detailStale_ = true;
      } else if (m.event == "status") {
        if (d.contains("head") && d["head"].is_object()) head_ = d["head"];
        const bool full = d.value("full", false);
        if (full) {
          std::map<std::string, Res> fresh;
          order_.clear();
          for (auto& r : d["resources"]) {
            std::string id = s(r, "id");
            Res x{r, {}};
            if (auto it = res_.find(id); it != res_.end()) {
              x.changedAt = it->second.changedAt;
              if (s(it->second.j, "phase") != s(r, "phase")) x.changedAt = Clock::now();
            }
            fresh[id] = std::move(x);
            order_.push_back(id);
          }
          res_ = std::move(fresh);
        } else {
          for (auto& r : d["resources"]) {
            std::string id = s(r, "id");
            auto it = res_.find(id);
            if (it == res_.end()) {
              order_.push_back(id);
              res_[id] = Res{r, Clock::now()};
            } else {
              if (s(it->second.j, "phase") != s(r, "phase")) it->second.changedAt = Clock::now();
              it->second.j = r;
            }
          }
          if (d.contains("removed") && !d["removed"].empty()) {
            std::set<std::string> gone;
            for (auto& id : d["removed"]) gone.insert(id.get<std::string>());
            for (auto& id : gone) res_.erase(id);
            order_.erase(std::remove_if(order_.begin(), order_.end(), [&](const std::string& id) { return gone.count(id) > 0; }),
                         order_.end());
          }
        }
        rebuild();
      }
    }
    return true;
  }

  bool matches(const json& r) const {
    std::istringstream in(filter_);
    for (std::string t; in >> t;) {
      auto colon = t.find(':');
      std::string k = colon == std::string::npos ? "" : t.substr(0, colon);
      std::string v = colon == std::string::npos ? t : t.substr(colon + 1);
      if (k == "phase" || k == "kind" || k == "tier" || k == "app") {
        if (s(r, k.c_str()) != v) return false;
        continue;
      }
      std::string hay = s(r, "id") + " " + s(r, "message") + " " + s(r, "app");
      std::string needle = t;
      std::transform(hay.begin(), hay.end(), hay.begin(), ::tolower);
      std::transform(needle.begin(), needle.end(), needle.begin(), ::tolower);
      if (hay.find(needle) == std::string::npos) return false;
    }
    return true;
  }

  // Rows: tier headers, app headers and resources, in the status order grouped by tier, app.
  struct Row {
    int type;  // 0 tier, 1 app, 2 resource
    std::string text;
  };
  void rebuild() {
    std::vector<std::string> tierOrder;
    std::map<std::string, std::vector<std::string>> appOrder;
    std::map<std::pair<std::string, std::string>, std::vector<std::string>> groups;
    for (const auto& id : order_) {
      const json& r = res_[id].j;
      if (!matches(r)) continue;
      std::string tier = s(r, "tier"), app = s(r, "app");
      if (tier.empty()) tier = "(no tier)";
      if (app.empty()) app = "[" + s(r, "kind") + "]";
      if (std::find(tierOrder.begin(), tierOrder.end(), tier) == tierOrder.end()) tierOrder.push_back(tier);
      auto& apps = appOrder[tier];
      if (std::find(apps.begin(), apps.end(), app) == apps.end()) apps.push_back(app);
      groups[{tier, app}].push_back(id);
    }
    std::string selected = selectedId();
    rows_.clear();
    shown_ = 0;
    for (const auto& t : tierOrder) {
      rows_.push_back({0, t});
      for (const auto& a : appOrder[t]) {
        rows_.push_back({1, a});
        for (const auto& id : groups[{t, a}]) {
          rows_.push_back({2, id});
          ++shown_;
        }
      }
    }
    // Keep the selected resource selected; else the first resource.
    sel_ = -1;
    for (std::size_t i = 0; i < rows_.size() && sel_ < 0; ++i)
      if (rows_[i].type == 2 && rows_[i].text == selected) sel_ = static_cast<int>(i);
    for (std::size_t i = 0; i < rows_.size() && sel_ < 0; ++i)
      if (rows_[i].type == 2) sel_ = static_cast<int>(i);
    if (sel_ < 0) sel_ = 0;
  }
  std::string selectedId() const {
    return sel_ >= 0 && sel_ < static_cast<int>(rows_.size()) && rows_[sel_].type == 2 ? rows_[sel_].text : "";
  }
  std::string appOfRow(int i) const {
    for (int k = i; k >= 0; --k)
      if (rows_[k].type == 1) return rows_[k].text;
    return "";
  }

  // ---- screen -------------------------------------------------------------------------------
  void bar(int y, const std::string& text) {
    if (has_colors()) attron(COLOR_PAIR(kHead));
    else attron(A_REVERSE);
    mvaddstr(y, 0, fit(text, COLS).c_str());
    if (has_colors()) attroff(COLOR_PAIR(kHead));
    else attroff(A_REVERSE);
  }

  void paint() {
    erase();
    std::string run = "none";
    if (head_.contains("last_run") && head_["last_run"].is_object()) {
      const auto& lr = head_["last_run"];
      run = "#" + s(lr, "id") + " " + s(lr, "result");
    }
    std::string rev = s(head_, "revision");
    if (rev.size() > 12) rev = rev.substr(0, 12);
    bar(0, " tend " + s(head_, "environment") + "  rev " + (rev.empty() ? "-" : rev) + "  run " + run + "  [" + connState_ + "]");
    if (mode_ == Mode::List) paintList();
    else paintText();
    std::string help = mode_ == Mode::List ? " /:filter  enter:detail  r:reconcile  p:plan  e:events  q:quit"
                                           : " up/down pgup/pgdn:scroll  r:reconcile  esc/q:back";
    if (!message_.empty()) help = " " + message_;
    bar(LINES - 1, help);
    refresh();
  }

  void paintList() {
    std::map<std::string, int> counts;
    for (const auto& [id, r] : res_) counts[s(r.j, "phase")]++;
    // The filter and a spec error come first: in 80 columns the counts are what gets cut.
    std::string line;
    if (!s(head_, "spec_error").empty()) line += " SPEC ERROR ";
    if (!filter_.empty()) line += " filter: " + filter_ + " (" + std::to_string(shown_) + ") |";
    line += " " + std::to_string(res_.size()) + " resources:";
    for (const char* p : {"ready", "progressing", "pending", "blocked", "failed", "deleting"})
      if (counts[p]) line += " " + std::to_string(counts[p]) + " " + p;
    mvaddstr(1, 0, fit(line, COLS).c_str());
    const int top = 2, height = LINES - 3;
    if (height <= 0) return;
    if (sel_ < scroll_) scroll_ = sel_;
    if (sel_ >= scroll_ + height) scroll_ = sel_ - height + 1;
    if (scroll_ < 0) scroll_ = 0;
    const int idW = std::max(20, COLS / 2 - 6), phaseW = 12, ageW = 5;
    const int msgW = COLS - 4 - idW - phaseW - ageW - 3;
    for (int i = 0; i < height && scroll_ + i < static_cast<int>(rows_.size()); ++i) {
      const Row& row = rows_[scroll_ + i];
      const int y = top + i;
      if (row.type == 0) {
        attron(A_BOLD);
        mvaddstr(y, 0, fit("== tier " + row.text + " ", COLS).c_str());
        attroff(A_BOLD);
      } else if (row.type == 1) {
        if (has_colors()) attron(COLOR_PAIR(kDim));
        mvaddstr(y, 0, fit("  " + row.text, COLS).c_str());
        if (has_colors()) attroff(COLOR_PAIR(kDim));
      } else {
        const Res& r = res_[row.text];
        const bool selected = scroll_ + i == sel_;
        if (selected) attron(A_REVERSE);
        mvaddstr(y, 0, fit("    " + row.text, 4 + idW).c_str());
        std::string phase = s(r.j, "phase");
        if (!selected) attron(phaseAttr(phase));
        addstr((" " + fit(phase + (r.j.value("drifted", false) ? "*" : ""), phaseW)).c_str());
        if (!selected) attroff(phaseAttr(phase));
        addstr((" " + fit(ageOf(r), ageW) + " " + fit(s(r.j, "message"), std::max(0, msgW))).c_str());
        if (selected) attroff(A_REVERSE);
      }
    }
  }

  void paintText() {
    const int top = 1, height = LINES - 2;
    if (textScroll_ > static_cast<int>(text_.size()) - height) textScroll_ = std::max(0, static_cast<int>(text_.size()) - height);
    for (int i = 0; i < height && textScroll_ + i < static_cast<int>(text_.size()); ++i) {
      const auto& [attr, t] = text_[textScroll_ + i];
      if (attr) attron(attr);
      mvaddstr(top + i, 0, fit(t, COLS).c_str());
      if (attr) attroff(attr);
    }
  }

  // ---- views with text --------------------------------------------------------------------
  void showDetail(const std::string& id) {
    detailId_ = id;
    detailStale_ = false;
    mode_ = Mode::Text;
    text_ = {{A_BOLD, id}, {0, "loading (observes its provider for the plan)..."}};
    paint();
    auto r = daemon::httpCall(target_, "GET", "/v1/resources/" + id + "?plan=1", "", std::chrono::seconds(60));
    text_.clear();
    if (!r.ok() || r->status != 200) {
      text_.push_back({phaseAttr("failed"), id + ": " + (r.ok() ? r->body : r.error().message)});
      return;
    }
    json d = json::parse(r->body, nullptr, false);
    const json& res = d["resource"];
    auto add = [&](int a, const std::string& t) { text_.push_back({a, t}); };
    add(A_BOLD, id);
    add(phaseAttr(s(res, "phase")), "phase:        " + s(res, "phase") + (res.value("drifted", false) ? " (drifted)" : ""));
    add(0, "message:      " + s(res, "message"));
    add(0, "kind:         " + s(res, "kind") + "   tier: " + (s(res, "tier").empty() ? "-" : s(res, "tier")) +
               "   app: " + (s(res, "app").empty() ? "-" : s(res, "app")));
    add(0, "last applied: " + (s(res, "last_applied").empty() ? "never" : s(res, "last_applied")));
    add(0, "declared at:  " + s(d, "declared_at"));
    add(0, "");
    if (d.contains("blocked_by") && !d["blocked_by"].empty()) {
      std::string chain = "blocked by:   ";
      for (const auto& b : d["blocked_by"]) chain += "-> " + s(b, "id") + " (" + s(b, "phase") + ") ";
      add(phaseAttr("blocked"), chain);
    }
    for (const auto& [title, key] : {std::pair{"depends on:", "dependencies"}, std::pair{"needed by:", "dependents"}}) {
      add(A_BOLD, title);
      if (d[key].empty()) add(0, "  (none)");
      for (const auto& x : d[key]) add(phaseAttr(s(x, "phase")), "  " + fit(s(x, "id"), 40) + " " + s(x, "phase") + "  " + s(x, "message"));
    }
    add(A_BOLD, "plan:");
    if (d["plan"].is_object()) {
      const json& p = d["plan"];
      if (p.contains("error")) add(phaseAttr("failed"), "  " + s(p, "error"));
      else {
        add(0, "  " + s(p, "action") + ": " + s(p, "reason"));
        if (p["diff"].is_object())
          for (auto& [field, v] : p["diff"].items()) {
            add(phaseAttr("failed"), "  - " + field + ": " + (v.is_object() && v.contains("from") ? v["from"].dump() : ""));
            add(phaseAttr("ready"), "  + " + field + ": " + (v.is_object() && v.contains("to") ? v["to"].dump() : v.dump()));
          }
      }
    } else {
      add(0, "  (none)");
    }
    add(A_BOLD, "explain (where each value comes from):");
    if (!d.contains("explain") || !d["explain"].is_array() || d["explain"].empty()) add(0, "  (not in the applied spec)");
    else
      for (const auto& x : d["explain"]) {
        const json& src = x["source"];
        std::string where = s(src, "file") + ":" + std::to_string(src.value("line", 0));
        add(0, "  " + s(x, "field") + " = " + s(x, "value") + "  (" + where + ")" +
                   (s(x, "id") != id ? "  [" + s(x, "id") + "]" : ""));
      }
    add(A_BOLD, "events:");
    if (d["events"].empty()) add(0, "  (none)");
    for (auto it = d["events"].rbegin(); it != d["events"].rend(); ++it)
      add(s(*it, "level") == "error" ? phaseAttr("failed") : 0,
          "  " + s(*it, "time") + " " + s(*it, "reason") + ": " + s(*it, "message"));
  }

  void showPlan() {
    detailId_.clear();
    mode_ = Mode::Text;
    textScroll_ = 0;
    text_ = {{A_BOLD, "plan"}, {0, "planning (observes every provider)..."}};
    paint();
    auto r = daemon::httpCall(target_, "GET", "/v1/plan", "", std::chrono::minutes(10));
    text_ = {{A_BOLD, "plan"}};
    if (!r.ok() || r->status != 200) {
      text_.push_back({phaseAttr("failed"), r.ok() ? r->body : r.error().message});
      return;
    }
    json plan = json::parse(r->body, nullptr, false);
    std::map<std::string, int> counts;
    for (const auto& a : plan) counts[s(a, "action")]++;
    text_.push_back({0, std::to_string(counts["create"]) + " to create, " + std::to_string(counts["update"]) + " to update, " +
                            std::to_string(counts["replace"]) + " to replace, " + std::to_string(counts["delete"]) +
                            " to delete, " + std::to_string(counts["noop"]) + " unchanged"});
    for (const auto& a : plan) {
      if (s(a, "action") == "noop") continue;
      text_.push_back({A_BOLD, fit(s(a, "action"), 8) + " " + s(a, "id") + "  " + s(a, "reason")});
      if (a["diff"].is_object())
        for (auto& [field, v] : a["diff"].items())
          text_.push_back({0, "    " + field + ": " + (v.is_object() && v.contains("from") ? v["from"].dump() : "") + " -> " +
                                  (v.is_object() && v.contains("to") ? v["to"].dump() : v.dump())});
    }
    if (plan.empty() || counts["noop"] == static_cast<int>(plan.size())) text_.push_back({0, "nothing to do: every resource matches the spec"});
  }

  void showEvents() {
    detailId_.clear();
    mode_ = Mode::Text;
    text_ = {{A_BOLD, "events (newest first)"}};
    for (auto it = events_.rbegin(); it != events_.rend(); ++it)
      text_.push_back({s(*it, "level") == "error" ? phaseAttr("failed") : 0,
                       s(*it, "id") + " " + s(*it, "time") + " " + (s(*it, "resource").empty() ? "-" : s(*it, "resource")) +
                           " " + s(*it, "reason") + ": " + s(*it, "message")});
    textScroll_ = 0;
  }

  // ---- input --------------------------------------------------------------------------------
  std::string prompt(const std::string& label, std::string value) {
    curs_set(1);
    timeout(-1);
    for (;;) {
      bar(LINES - 1, " " + label + value);
      move(LINES - 1, std::min(COLS - 1, static_cast<int>(1 + label.size() + value.size())));
      refresh();
      int ch = getch();
      if (ch == '\n' || ch == KEY_ENTER || ch == '\r') break;
      if (ch == 27) {
        value = "\x1b";
        break;
      }
      if (ch == 21) {  // ^U clears
        value.clear();
      } else if (ch == KEY_BACKSPACE || ch == 127 || ch == 8) {
        if (!value.empty()) value.pop_back();
      } else if (ch >= 32 && ch < 127) {
        value += static_cast<char>(ch);
      }
    }
    curs_set(0);
    timeout(200);
    return value;
  }

  void reconcile(const std::vector<std::string>& ids, const std::string& what) {
    json body = json::object();
    if (!ids.empty()) body["resources"] = ids;
    auto r = daemon::httpCall(target_, "POST", "/v1/reconcile", body.dump(), std::chrono::seconds(30));
    if (!r.ok()) {
      message_ = "reconcile failed: " + r.error().message;
      return;
    }
    json b = json::parse(r->body, nullptr, false);
    if (r->status >= 400) {
      message_ = "reconcile refused (HTTP " + std::to_string(r->status) + "): " + s(b, "error");
      return;
    }
    message_ = !s(b, "run_id").empty() ? "run " + s(b, "run_id") + " " + s(b, "status") + " (" + what + ")"
                                       : "pass queued (" + what + ")";
  }

  void askReconcile(const std::string& id, const std::string& app) {
    std::string q = " reconcile: r=resource " + (id.empty() ? "-" : id) + "  a=app " + (app.empty() ? "-" : app) + "  A=all  esc=cancel";
    bar(LINES - 1, q);
    refresh();
    timeout(-1);
    int ch = getch();
    timeout(200);
    if (ch == 'r' && !id.empty()) {
      reconcile({id}, id);
    } else if (ch == 'a' && !app.empty()) {
      std::vector<std::string> ids;
      for (const auto& x : order_)
        if (s(res_[x].j, "app") == app || (app.front() == '[' && app == "[" + s(res_[x].j, "kind") + "]")) ids.push_back(x);
      reconcile(ids, "app " + app + ", " + std::to_string(ids.size()) + " resources");
    } else if (ch == 'A' || ch == '*') {
      reconcile({}, "all");
    } else {
      message_ = "reconcile cancelled";
    }
  }

  void key(int ch) {
    message_.clear();
    if (mode_ == Mode::Text) {
      const int page = std::max(1, LINES - 3);
      switch (ch) {
        case 'q': case 27: case KEY_LEFT: case 'h': mode_ = Mode::List; detailId_.clear(); break;
        case KEY_UP: case 'k': textScroll_ = std::max(0, textScroll_ - 1); break;
        case KEY_DOWN: case 'j': textScroll_++; break;
        case KEY_PPAGE: textScroll_ = std::max(0, textScroll_ - page); break;
        case KEY_NPAGE: case ' ': textScroll_ += page; break;
        case 'r': if (!detailId_.empty()) askReconcile(detailId_, s(res_[detailId_].j, "app")); break;
        case 'R': case KEY_F(5): if (!detailId_.empty()) showDetail(detailId_); break;
        default: break;
      }
      if (detailStale_ && mode_ == Mode::Text && !detailId_.empty()) showDetail(detailId_);
      return;
    }
    const int page = std::max(1, LINES - 4);
    auto step = [&](int dir, int n) {
      int i = sel_;
      for (int moved = 0; moved < n;) {
        int j = i + dir;
        while (j >= 0 && j < static_cast<int>(rows_.size()) && rows_[j].type != 2) j += dir;
        if (j < 0 || j >= static_cast<int>(rows_.size())) break;
        i = j;
        ++moved;
      }
      sel_ = i;
    };
    switch (ch) {
      case 'q': inbox_->quit = true; break;
      case KEY_UP: case 'k': step(-1, 1); break;
      case KEY_DOWN: case 'j': step(1, 1); break;
      case KEY_PPAGE: step(-1, page); break;
      case KEY_NPAGE: case ' ': step(1, page); break;
      case KEY_HOME: case 'g': sel_ = 0; step(1, 1); step(-1, 1); break;
      case KEY_END: case 'G': sel_ = static_cast<int>(rows_.size()) - 1; step(-1, 1); step(1, 1); break;
      case '/': {
        std::string v = prompt("filter (text, phase:X, kind:X, tier:X, app:X): ", filter_);
        if (v != "\x1b") {
          filter_ = v;
          rebuild();
        }
        break;
      }
      case '\n': case '\r': case KEY_ENTER: case KEY_RIGHT: case 'l':
        if (!selectedId().empty()) {
          textScroll_ = 0;
          showDetail(selectedId());
        }
        break;
      case 'r': askReconcile(selectedId(), rows_.empty() ? "" : appOfRow(sel_)); break;
      case 'p': showPlan(); break;
      case 'e': showEvents(); break;
      default: break;
    }
  }

  enum class Mode { List, Text };
  daemon::ClientTarget target_;
  std::shared_ptr<Inbox> inbox_;
  std::string connState_ = "connecting";
  json head_ = json::object();
  std::map<std::string, Res> res_;
  std::vector<std::string> order_;
  std::deque<json> events_;
  int64_t lastEventId_ = 0;
  std::vector<Row> rows_;
  int shown_ = 0, sel_ = 0, scroll_ = 0, textScroll_ = 0;
  std::string filter_, message_;
  Mode mode_ = Mode::List;
  std::vector<std::pair<int, std::string>> text_;
  std::string detailId_;
  bool detailStale_ = false;
};

}  // namespace

int cmdUi(const Conn& c) {
  daemon::ClientTarget t;
  t.socket = c.socket;
  t.url = c.url;
  t.caFile = c.caFile;
  if (!c.tokenFile.empty()) {
    auto tok = daemon::readSecretFile(c.tokenFile);
    if (!tok.ok()) {
      std::cerr << "tendctl: --token-file: " << tok.error().message << "\n";
      return kUsage;
    }
    t.token = *tok;
  }
  if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
    std::cerr << "tendctl ui: needs a terminal (use tendctl status / events --follow in scripts)\n";
    return kUsage;
  }
  Ui ui(std::move(t));
  return ui.run();
}

}  // namespace tend::ctl
