//! The SM clock and board power while forwards are timed, read from NVML (the library behind
//! nvidia-smi, opened at run time like the CUDA driver). An H200 at its 700 W cap lowers its
//! clock: a layer timed back to back then runs at whatever clock its energy per forward allows,
//! and a ratio to a baseline timed at another clock says little without both clocks (perf log
//! v31), and its time follows its energy per forward, which NVML's counter gives too. Without
//! NVML the timing goes on and the report says why it has no clock.

use std::ffi::{CString, c_char, c_int, c_uint, c_ulonglong, c_void};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

/// `nvmlClockType_t`'s SM clock.
const NVML_CLOCK_SM: c_uint = 1;
/// `nvmlClocksEventReasons`: the software power cap.
const REASON_SW_POWER_CAP: u64 = 0x4;
/// Hardware slowdowns (thermal or power brake) and the software thermal limit.
const REASON_THERMAL_OR_BRAKE: u64 = 0x8 | 0x20 | 0x40 | 0x80;

type Device = *mut c_void;
type Init = unsafe extern "C" fn() -> c_int;
type ByPci = unsafe extern "C" fn(*const c_char, *mut Device) -> c_int;
type ClockInfo = unsafe extern "C" fn(Device, c_uint, *mut c_uint) -> c_int;
type PowerUsage = unsafe extern "C" fn(Device, *mut c_uint) -> c_int;
type Reasons = unsafe extern "C" fn(Device, *mut c_ulonglong) -> c_int;
/// `nvmlDeviceGetTotalEnergyConsumption`: mJ since the driver loaded.
type Energy = unsafe extern "C" fn(Device, *mut c_ulonglong) -> c_int;

/// Fewer samples than this (10 ms apart) make a run too short for NVML's power reading and
/// energy counter (perf log v31 c8: 30 forwards of 1 ms read 0 mJ, or half the long runs' energy).
const SHORT_RUN_SAMPLES: usize = 100;

/// One reading: SM clock (MHz), board power (mW), clock event reasons (bit set).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    pub sm_mhz: u32,
    pub power_mw: u32,
    pub reasons: u64,
}

/// NVML opened on one device.
struct Nvml {
    // Keeps the library loaded while the function pointers below are in use.
    _lib: libloading::Library,
    dev: Device,
    clock: ClockInfo,
    power: PowerUsage,
    reasons: Reasons,
    energy: Energy,
    shutdown: Init,
    limit_mw: u32,
}

// SAFETY: NVML's calls are thread-safe; the handle is only read.
unsafe impl Send for Nvml {}

impl Drop for Nvml {
    fn drop(&mut self) {
        // SAFETY: balances the `nvmlInit_v2` of `open` (NVML counts them).
        unsafe { (self.shutdown)() };
    }
}

impl Nvml {
    /// NVML on the device at `pci_bus_id` (`Context::pci_bus_id`); an error string naming what
    /// was missing.
    fn open(pci_bus_id: &str) -> Result<Nvml, String> {
        // SAFETY: loading the system's NVML runs its initialisers only.
        let lib = unsafe { libloading::Library::new("libnvidia-ml.so.1") }.map_err(|e| format!("libnvidia-ml.so.1 not loaded ({e})"))?;
        // SAFETY: the types are NVML's C signatures (nvml.h, 12.x).
        unsafe {
            let init: Init = symbol(&lib, b"nvmlInit_v2\0")?;
            let by_pci: ByPci = symbol(&lib, b"nvmlDeviceGetHandleByPciBusId_v2\0")?;
            let limit: PowerUsage = symbol(&lib, b"nvmlDeviceGetEnforcedPowerLimit\0")?;
            let clock: ClockInfo = symbol(&lib, b"nvmlDeviceGetClockInfo\0")?;
            let power: PowerUsage = symbol(&lib, b"nvmlDeviceGetPowerUsage\0")?;
            let reasons: Reasons = symbol(&lib, b"nvmlDeviceGetCurrentClocksThrottleReasons\0")?;
            let energy: Energy = symbol(&lib, b"nvmlDeviceGetTotalEnergyConsumption\0")?;
            let shutdown: Init = symbol(&lib, b"nvmlShutdown\0")?;
            let rc = init();
            if rc != 0 {
                return Err(format!("nvmlInit_v2 returned {rc}"));
            }
            let id = CString::new(pci_bus_id).map_err(|_| "a PCI bus id with a NUL".to_string())?;
            let mut dev: Device = std::ptr::null_mut();
            let rc = by_pci(id.as_ptr(), &mut dev);
            if rc != 0 {
                shutdown();
                return Err(format!("no NVML device at {pci_bus_id} (nvmlDeviceGetHandleByPciBusId_v2 returned {rc})"));
            }
            let mut limit_mw = 0;
            if limit(dev, &mut limit_mw) != 0 {
                limit_mw = 0;
            }
            Ok(Nvml { _lib: lib, dev, clock, power, reasons, energy, shutdown, limit_mw })
        }
    }

    fn sample(&self) -> Option<Sample> {
        let (mut sm_mhz, mut power_mw, mut reasons) = (0, 0, 0);
        // SAFETY: a device handle of this library, out-pointers to locals.
        let ok = unsafe {
            (self.clock)(self.dev, NVML_CLOCK_SM, &mut sm_mhz) == 0
                && (self.power)(self.dev, &mut power_mw) == 0
                && (self.reasons)(self.dev, &mut reasons) == 0
        };
        ok.then_some(Sample { sm_mhz, power_mw, reasons })
    }

    /// The board's energy counter, mJ.
    fn energy_mj(&self) -> Option<u64> {
        let mut mj = 0;
        // SAFETY: as in `sample`.
        (unsafe { (self.energy)(self.dev, &mut mj) } == 0).then_some(mj)
    }
}

/// The function `name` (NUL-terminated) of `lib` as `T`.
///
/// # Safety
/// `T` is the function's C signature.
unsafe fn symbol<T: Copy>(lib: &libloading::Library, name: &[u8]) -> Result<T, String> {
    unsafe { lib.get::<T>(name) }.map(|s| *s).map_err(|e| format!("{} missing ({e})", String::from_utf8_lossy(&name[..name.len() - 1])))
}

/// Samples one GPU on a thread of its own until [`Sampler::finish`], and reads its energy
/// counter at both ends.
pub struct Sampler {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<(Vec<Sample>, Option<u64>)>,
    energy_start_mj: Option<u64>,
    limit_mw: u32,
}

impl Sampler {
    /// Starts sampling the device at `pci_bus_id` every `period`; an error string when NVML is
    /// not there or does not know the device.
    pub fn start(pci_bus_id: &str, period: Duration) -> Result<Sampler, String> {
        let nvml = Nvml::open(pci_bus_id)?;
        let (limit_mw, energy_start_mj) = (nvml.limit_mw, nvml.energy_mj());
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut samples = Vec::new();
            while !flag.load(Ordering::Relaxed) {
                samples.extend(nvml.sample());
                std::thread::sleep(period);
            }
            (samples, nvml.energy_mj())
        });
        Ok(Sampler { stop, thread, energy_start_mj, limit_mw })
    }

    /// Stops sampling; what the samples say, with the energy spent per forward over the
    /// `forwards` run since [`Sampler::start`].
    pub fn finish(self, forwards: usize) -> PowerReport {
        self.stop.store(true, Ordering::Relaxed);
        let (samples, energy_end_mj) = self.thread.join().unwrap_or_default();
        let mut report = PowerReport::of(&samples, self.limit_mw);
        // The counter moves in steps too coarse for a run of a few tens of ms.
        if let (Some(a), Some(b)) = (self.energy_start_mj, energy_end_mj)
            && forwards > 0
            && b > a
            && samples.len() >= SHORT_RUN_SAMPLES
        {
            report.energy_mj_per_forward = Some((b - a) as f64 / forwards as f64);
        }
        report
    }
}

/// What the samples of one timed run say.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PowerReport {
    pub samples: usize,
    pub sm_mhz_median: u32,
    pub sm_mhz_min: u32,
    pub power_w_median: f64,
    pub limit_w: f64,
    /// Shares of the samples with the software power cap, and with a thermal or hardware
    /// slowdown, among the clock event reasons.
    pub power_capped: f64,
    pub thermal_or_brake: f64,
    /// The board's energy over the run per forward (host gaps between forwards included), mJ.
    pub energy_mj_per_forward: Option<f64>,
}

impl PowerReport {
    pub fn of(samples: &[Sample], limit_mw: u32) -> PowerReport {
        let median = |mut v: Vec<u32>| {
            v.sort_unstable();
            if v.is_empty() { 0 } else { v[v.len() / 2] }
        };
        let share = |mask: u64| {
            if samples.is_empty() { 0.0 } else { samples.iter().filter(|s| s.reasons & mask != 0).count() as f64 / samples.len() as f64 }
        };
        PowerReport {
            samples: samples.len(),
            sm_mhz_median: median(samples.iter().map(|s| s.sm_mhz).collect()),
            sm_mhz_min: samples.iter().map(|s| s.sm_mhz).min().unwrap_or(0),
            power_w_median: median(samples.iter().map(|s| s.power_mw).collect()) as f64 / 1e3,
            limit_w: limit_mw as f64 / 1e3,
            power_capped: share(REASON_SW_POWER_CAP),
            thermal_or_brake: share(REASON_THERMAL_OR_BRAKE),
            energy_mj_per_forward: None,
        }
    }
}

impl std::fmt::Display for PowerReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.samples == 0 {
            return write!(f, "no NVML sample during the timed forwards (too short a run?)");
        }
        write!(
            f,
            "SM clock median {} MHz (min {}), board power median {:.0} W of a {:.0} W limit; at the power cap in {:.0}% of {} samples",
            self.sm_mhz_median,
            self.sm_mhz_min,
            self.power_w_median,
            self.limit_w,
            100.0 * self.power_capped,
            self.samples
        )?;
        if self.thermal_or_brake > 0.0 {
            write!(f, ", thermal or hardware slowdown in {:.0}%", 100.0 * self.thermal_or_brake)?;
        }
        if let Some(mj) = self.energy_mj_per_forward {
            write!(f, "; {mj:.0} mJ per forward")?;
        }
        if self.samples < SHORT_RUN_SAMPLES {
            write!(f, " (a short run: NVML's power reading averages over about a second, and its energy counter steps too coarsely)")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(sm_mhz: u32, power_mw: u32, reasons: u64) -> Sample {
        Sample { sm_mhz, power_mw, reasons }
    }

    #[test]
    fn a_report_takes_medians_and_the_shares_of_each_reason() {
        let r =
            PowerReport::of(&[s(1980, 400_000, 0), s(1725, 698_000, 0x4), s(1650, 701_000, 0x4 | 0x1), s(1500, 705_000, 0x40)], 700_000);
        assert_eq!((r.samples, r.sm_mhz_median, r.sm_mhz_min), (4, 1725, 1500));
        assert_eq!(r.power_w_median, 701.0);
        assert_eq!(r.limit_w, 700.0);
        assert_eq!((r.power_capped, r.thermal_or_brake), (0.5, 0.25));
        let line = r.to_string();
        assert!(line.contains("1725 MHz") && line.contains("50%") && line.contains("slowdown in 25%"), "{line}");
        assert!(line.contains("a short run"), "{line}");
        let long =
            PowerReport { energy_mj_per_forward: Some(801.4), ..PowerReport::of(&vec![s(1740, 690_000, 0x4); SHORT_RUN_SAMPLES], 700_000) };
        let long = long.to_string();
        assert!(long.contains("in 100% of 100 samples; 801 mJ per forward") && !long.contains("short run"), "{long}");
    }

    #[test]
    fn no_samples_say_so_instead_of_zeros() {
        let r = PowerReport::of(&[], 700_000);
        assert_eq!(r.samples, 0);
        assert!(r.to_string().contains("no NVML sample"));
    }

    #[test]
    fn an_unknown_device_is_an_error_not_a_panic() {
        // Wherever NVML is missing (CI) this names the library; where it is there, the device.
        assert!(Sampler::start("FFFFFFFF:FF:FF.0", Duration::from_millis(5)).is_err());
    }
}
