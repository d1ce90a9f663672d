//! The tracing settings: the standard `OTEL_*` variables of the OpenTelemetry SDKs, read
//! and checked here (a value the SDK would quietly replace with its default is refused).
//! Tracing is off while `OTEL_EXPORTER_OTLP_ENDPOINT` is unset.

use clap::Args;
use opentelemetry_sdk::trace::Sampler;
use std::time::Duration;

/// OpenTelemetry traces, exported as OTLP over HTTP (protobuf).
#[derive(Debug, Clone, Args)]
pub struct TracingArgs {
    /// Where traces go: the base URL of an OTLP/HTTP receiver (a collector, Jaeger's port
    /// 4318); spans are POSTed to `<endpoint>/v1/traces`. Unset: tracing is off.
    #[arg(long = "otel-exporter-otlp-endpoint", env = "OTEL_EXPORTER_OTLP_ENDPOINT", value_parser = parse_endpoint)]
    pub otlp_endpoint: Option<String>,
    /// The `service.name` of every span.
    #[arg(long = "otel-service-name", env = "OTEL_SERVICE_NAME", default_value = "clinicstream")]
    pub otel_service_name: String,
    /// Which traces are kept: `always_on`, `always_off`, `traceidratio`,
    /// `parentbased_always_on`, `parentbased_always_off` or `parentbased_traceidratio`.
    #[arg(long = "otel-traces-sampler", env = "OTEL_TRACES_SAMPLER", default_value = "parentbased_always_on", value_parser = parse_sampler)]
    pub traces_sampler: SamplerName,
    /// The ratio of the `traceidratio` samplers, from 0 to 1 (default 1).
    #[arg(long = "otel-traces-sampler-arg", env = "OTEL_TRACES_SAMPLER_ARG", value_parser = parse_ratio)]
    pub traces_sampler_arg: Option<f64>,
    /// Milliseconds between two exports of the batch span processor.
    #[arg(long = "otel-bsp-schedule-delay", env = "OTEL_BSP_SCHEDULE_DELAY", default_value_t = 5000, value_parser = clap::value_parser!(u64).range(1..=600_000))]
    pub bsp_schedule_delay_ms: u64,
    /// Milliseconds one export may take before it is abandoned.
    #[arg(long = "otel-exporter-otlp-timeout", env = "OTEL_EXPORTER_OTLP_TIMEOUT", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..=600_000))]
    pub otlp_timeout_ms: u64,
}

/// The samplers of the `OTEL_TRACES_SAMPLER` specification this SDK implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SamplerName {
    AlwaysOn,
    AlwaysOff,
    TraceIdRatio,
    ParentBasedAlwaysOn,
    ParentBasedAlwaysOff,
    ParentBasedTraceIdRatio,
}

impl TracingArgs {
    /// Tracing off: what tests and subcommands that export nothing start from.
    pub fn off() -> Self {
        Self {
            otlp_endpoint: None,
            otel_service_name: "clinicstream".into(),
            traces_sampler: SamplerName::ParentBasedAlwaysOn,
            traces_sampler_arg: None,
            bsp_schedule_delay_ms: 5000,
            otlp_timeout_ms: 10_000,
        }
    }

    /// The SDK's sampler for these settings.
    pub fn sampler(&self) -> Sampler {
        let ratio = self.traces_sampler_arg.unwrap_or(1.0);
        match self.traces_sampler {
            SamplerName::AlwaysOn => Sampler::AlwaysOn,
            SamplerName::AlwaysOff => Sampler::AlwaysOff,
            SamplerName::TraceIdRatio => Sampler::TraceIdRatioBased(ratio),
            SamplerName::ParentBasedAlwaysOn => Sampler::ParentBased(Box::new(Sampler::AlwaysOn)),
            SamplerName::ParentBasedAlwaysOff => Sampler::ParentBased(Box::new(Sampler::AlwaysOff)),
            SamplerName::ParentBasedTraceIdRatio => Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(ratio))),
        }
    }

    pub fn schedule_delay(&self) -> Duration {
        Duration::from_millis(self.bsp_schedule_delay_ms)
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.otlp_timeout_ms)
    }
}

/// An http(s) URL with a host and no query or fragment.
pub fn parse_endpoint(text: &str) -> Result<String, String> {
    let url = url::Url::parse(text.trim()).map_err(|e| format!("not a URL ({e}); like http://localhost:4318"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err("an http:// or https:// URL with a host, like http://localhost:4318".into());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("the endpoint takes no query string or fragment".into());
    }
    Ok(url.as_str().trim_end_matches('/').to_string())
}

pub fn parse_sampler(text: &str) -> Result<SamplerName, String> {
    Ok(match text.trim() {
        "always_on" => SamplerName::AlwaysOn,
        "always_off" => SamplerName::AlwaysOff,
        "traceidratio" => SamplerName::TraceIdRatio,
        "parentbased_always_on" => SamplerName::ParentBasedAlwaysOn,
        "parentbased_always_off" => SamplerName::ParentBasedAlwaysOff,
        "parentbased_traceidratio" => SamplerName::ParentBasedTraceIdRatio,
        _ => {
            return Err("one of always_on, always_off, traceidratio, parentbased_always_on, \
                        parentbased_always_off, parentbased_traceidratio"
                .into());
        }
    })
}

pub fn parse_ratio(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(ratio) if (0.0..=1.0).contains(&ratio) => Ok(ratio),
        _ => Err("a sampling ratio from 0 to 1, like 0.1".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_http_urls_with_a_host() {
        assert_eq!(parse_endpoint("http://localhost:4318/").unwrap(), "http://localhost:4318");
        assert_eq!(parse_endpoint("https://otel.example/base").unwrap(), "https://otel.example/base");
        for bad in ["", "localhost:4318", "ftp://x", "http://x/?a=1", "http://x/#f", "file:///tmp/x"] {
            assert!(parse_endpoint(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn samplers_and_ratios_are_the_specifications() {
        assert_eq!(parse_sampler("parentbased_traceidratio").unwrap(), SamplerName::ParentBasedTraceIdRatio);
        assert!(parse_sampler("xray").is_err());
        assert!(parse_sampler("ALWAYS_ON").is_err());
        assert_eq!(parse_ratio("0.1").unwrap(), 0.1);
        for bad in ["-0.1", "1.5", "NaN", "ten", ""] {
            assert!(parse_ratio(bad).is_err(), "{bad}");
        }
    }
}
