#include "metrics/registry.hpp"

#include <algorithm>

#include <fmt/format.h>

namespace tcptrail::metrics {

std::string escape_label_value(const std::string& v) {
    std::string out;
    out.reserve(v.size());
    for (char ch : v) {
        if (ch == '\\') {
            out += "\\\\";
        } else if (ch == '"') {
            out += "\\\"";
        } else if (ch == '\n') {
            out += "\\n";
        } else {
            out += ch;
        }
    }
    return out;
}

std::string format_seconds(uint64_t us) { return fmt::format("{}", static_cast<double>(us) / 1e6); }

Registry::Registry(size_t max_series_per_metric) : max_series_(std::max<size_t>(max_series_per_metric, 1)) {
    overflow_ = &counter("tcptrail_metrics_label_overflow_total",
                         "Updates whose open-ended label values were folded into \"other\" because the metric "
                         "had reached its series limit (--metrics-max-series).",
                         {{"metric", false}});
}

Registry::Metric& Registry::add_metric(std::string name, std::string help, Type type, std::vector<LabelSpec> labels,
                                       std::vector<uint64_t> bounds_us) {
    Metric& m = metrics_.emplace_back();
    m.name_ = std::move(name);
    m.help_ = std::move(help);
    m.type_ = type;
    m.labels_ = std::move(labels);
    m.bounds_us_ = std::move(bounds_us);
    return m;
}

Registry::Metric& Registry::counter(std::string name, std::string help, std::vector<LabelSpec> labels) {
    return add_metric(std::move(name), std::move(help), Type::Counter, std::move(labels), {});
}
Registry::Metric& Registry::gauge(std::string name, std::string help, std::vector<LabelSpec> labels) {
    return add_metric(std::move(name), std::move(help), Type::Gauge, std::move(labels), {});
}
Registry::Metric& Registry::histogram(std::string name, std::string help, std::vector<LabelSpec> labels,
                                      std::vector<uint64_t> bounds_us) {
    std::sort(bounds_us.begin(), bounds_us.end());
    return add_metric(std::move(name), std::move(help), Type::Histogram, std::move(labels), std::move(bounds_us));
}

namespace {
std::string join(const LabelValues& v) {
    std::string key;
    for (const auto& s : v) {
        key += s;
        key += '\0';
    }
    return key;
}
}  // namespace

Registry::Metric::Series& Registry::series(Metric& m, const LabelValues& labels) {
    std::string key = join(labels);
    if (auto it = m.series_.find(key); it != m.series_.end()) return it->second;
    const LabelValues* use = &labels;
    LabelValues folded;
    if (m.series_.size() >= max_series_) {
        folded = labels;
        for (size_t i = 0; i < folded.size() && i < m.labels_.size(); ++i) {
            if (m.labels_[i].open_ended) folded[i] = kOther;
        }
        if (&m != overflow_) add(*overflow_, {m.name_});
        key = join(folded);
        use = &folded;
        if (auto it = m.series_.find(key); it != m.series_.end()) return it->second;
    }
    Metric::Series& s = m.series_[key];
    s.labels = *use;
    if (m.type_ == Type::Histogram) s.buckets.assign(m.bounds_us_.size(), 0);
    return s;
}

void Registry::add(Metric& m, const LabelValues& labels, uint64_t n) { series(m, labels).value += n; }

void Registry::set(Metric& m, const LabelValues& labels, uint64_t v) { series(m, labels).value = v; }

void Registry::observe(Metric& m, const LabelValues& labels, uint64_t us) {
    Metric::Series& s = series(m, labels);
    ++s.value;
    s.sum_us += us;
    auto it = std::lower_bound(m.bounds_us_.begin(), m.bounds_us_.end(), us);  // le: us <= bound
    if (it != m.bounds_us_.end()) ++s.buckets[it - m.bounds_us_.begin()];
}

uint64_t Registry::overflow(const std::string& metric) const {
    auto it = overflow_->series_.find(join({metric}));
    return it == overflow_->series_.end() ? 0 : it->second.value;
}

namespace {

const char* type_name(Registry::Type t) {
    switch (t) {
        case Registry::Type::Counter: return "counter";
        case Registry::Type::Gauge: return "gauge";
        case Registry::Type::Histogram: return "histogram";
    }
    return "untyped";
}

// `{a="x",b="y"` without the closing brace, so `le` can follow.
void open_labels(std::string& out, const std::vector<LabelSpec>& names, const LabelValues& values) {
    out += '{';
    for (size_t i = 0; i < names.size() && i < values.size(); ++i) {
        if (i) out += ',';
        fmt::format_to(std::back_inserter(out), "{}=\"{}\"", names[i].name, escape_label_value(values[i]));
    }
}

void labels_only(std::string& out, const std::vector<LabelSpec>& names, const LabelValues& values) {
    if (names.empty()) return;
    open_labels(out, names, values);
    out += '}';
}

}  // namespace

void Registry::render(std::string& out) const {
    std::vector<const Metric*> order;
    for (const Metric& m : metrics_) {
        if (&m != overflow_) order.push_back(&m);
    }
    order.push_back(overflow_);
    for (const Metric* m : order) {
        fmt::format_to(std::back_inserter(out), "# HELP {} {}\n# TYPE {} {}\n", m->name_, m->help_, m->name_,
                       type_name(m->type_));
        std::vector<const Metric::Series*> rows;
        rows.reserve(m->series_.size());
        for (const auto& [key, s] : m->series_) rows.push_back(&s);
        std::sort(rows.begin(), rows.end(), [](const auto* a, const auto* b) { return a->labels < b->labels; });
        for (const Metric::Series* s : rows) {
            if (m->type_ != Type::Histogram) {
                out += m->name_;
                labels_only(out, m->labels_, s->labels);
                fmt::format_to(std::back_inserter(out), " {}\n", s->value);
                continue;
            }
            uint64_t cumulative = 0;
            for (size_t i = 0; i <= m->bounds_us_.size(); ++i) {
                const bool inf = i == m->bounds_us_.size();
                if (!inf) cumulative += s->buckets[i];
                fmt::format_to(std::back_inserter(out), "{}_bucket", m->name_);
                open_labels(out, m->labels_, s->labels);
                fmt::format_to(std::back_inserter(out), "{}le=\"{}\"}} {}\n", m->labels_.empty() ? "" : ",",
                               inf ? std::string("+Inf") : format_seconds(m->bounds_us_[i]),
                               inf ? s->value : cumulative);
            }
            fmt::format_to(std::back_inserter(out), "{}_sum", m->name_);
            labels_only(out, m->labels_, s->labels);
            fmt::format_to(std::back_inserter(out), " {}\n{}_count", format_seconds(s->sum_us), m->name_);
            labels_only(out, m->labels_, s->labels);
            fmt::format_to(std::back_inserter(out), " {}\n", s->value);
        }
    }
}

}  // namespace tcptrail::metrics
