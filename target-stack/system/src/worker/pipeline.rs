//! The video pipeline: one ffmpeg run that trims to the maximum length, fits the picture
//! into 1280×720 with padding (never stretching, square pixels), drops audio, watermarks
//! it, and frames it with the intro and outro bumpers; H.264 with `+faststart`.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use crate::config::WorkerSettings;

use super::logo;

pub const WIDTH: u32 = 1280;
pub const HEIGHT: u32 = 720;
const FPS: u32 = 30;
const BUMPER_COLOUR: &str = "0x101c3d";

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(
        "ffmpeg was not found (tried {path:?}). Install it (Debian/Ubuntu: `apt-get install ffmpeg`; \
         Fedora: `dnf install ffmpeg`; macOS: `brew install ffmpeg`) or set ANB_FFMPEG to its path"
    )]
    FfmpegMissing { path: PathBuf },
    #[error(
        "{path:?} has no libx264 encoder; install a full ffmpeg build (Debian's `ffmpeg` package has it)"
    )]
    NoH264 { path: PathBuf },
    #[error("ffmpeg failed ({status}): {stderr}")]
    Failed { status: String, stderr: String },
    #[error("could not run ffmpeg: {0}")]
    Io(#[from] std::io::Error),
}

#[derive(Debug)]
pub struct Pipeline {
    ffmpeg: PathBuf,
    max_clip: Duration,
    bumper: Duration,
    /// Holds the generated logo for the pipeline's lifetime.
    assets: tempfile::TempDir,
}

impl Pipeline {
    /// Checks that ffmpeg exists and can encode H.264, and writes the logo.
    pub async fn new(settings: &WorkerSettings) -> Result<Self, PipelineError> {
        let ffmpeg = settings.ffmpeg.clone();
        let output = tokio::process::Command::new(&ffmpeg)
            .args(["-hide_banner", "-encoders"])
            .stdin(Stdio::null())
            .output()
            .await
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied => {
                    PipelineError::FfmpegMissing {
                        path: ffmpeg.clone(),
                    }
                }
                _ => PipelineError::Io(e),
            })?;
        if !String::from_utf8_lossy(&output.stdout).contains("libx264") {
            return Err(PipelineError::NoH264 { path: ffmpeg });
        }
        let assets = tempfile::Builder::new().prefix("anb-worker-").tempdir()?;
        tokio::fs::write(assets.path().join("logo.pam"), logo::pam()).await?;
        Ok(Self {
            ffmpeg,
            max_clip: settings.max_clip,
            bumper: settings.bumper,
            assets,
        })
    }

    fn logo(&self) -> PathBuf {
        self.assets.path().join("logo.pam")
    }

    /// Renders `input` into `output`.
    pub async fn render(&self, input: &Path, output: &Path) -> Result<(), PipelineError> {
        let mut command = tokio::process::Command::new(&self.ffmpeg);
        command
            .args(arguments(
                input,
                output,
                &self.logo(),
                self.max_clip,
                self.bumper,
            ))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        die_with_parent(&mut command);
        let result = command.output().await?;
        if result.status.success() {
            return Ok(());
        }
        let stderr = String::from_utf8_lossy(&result.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(6).collect();
        Err(PipelineError::Failed {
            status: result.status.to_string(),
            stderr: tail.into_iter().rev().collect::<Vec<_>>().join(" | "),
        })
    }
}

/// ffmpeg must not outlive a worker that is killed (SIGKILL skips `kill_on_drop`), or a
/// redelivered task would race an orphaned encoder writing the same output.
#[allow(unsafe_code)]
fn die_with_parent(command: &mut tokio::process::Command) {
    // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

fn secs(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64())
}

/// The ffmpeg command line (pure, so it is tested without running ffmpeg).
pub fn arguments(
    input: &Path,
    output: &Path,
    logo: &Path,
    max_clip: Duration,
    bumper: Duration,
) -> Vec<OsString> {
    fn words(items: &[&str]) -> impl Iterator<Item = OsString> {
        items
            .iter()
            .map(OsString::from)
            .collect::<Vec<_>>()
            .into_iter()
    }
    let colour = format!("color=c={BUMPER_COLOUR}:s={WIDTH}x{HEIGHT}:r={FPS}");
    let with_bumpers = !bumper.is_zero();
    let mut args: Vec<OsString> =
        words(&["-nostdin", "-hide_banner", "-loglevel", "error", "-y"]).collect();
    // Input 0: the clip, trimmed while reading. Input 1: the logo, looped.
    args.extend(words(&["-t", &secs(max_clip), "-i"]));
    args.push(input.into());
    args.extend(words(&["-loop", "1", "-framerate", &FPS.to_string(), "-i"]));
    args.push(logo.into());
    if with_bumpers {
        // Inputs 2 and 3: the bumpers' backgrounds.
        for _ in 0..2 {
            args.extend(words(&["-f", "lavfi", "-t", &secs(bumper), "-i", &colour]));
        }
    }
    // The looped logo never ends: every branch of it must meet a `shortest=1` overlay, or
    // ffmpeg runs forever (a `nullsink` branch would keep pulling it).
    let logo_branches = if with_bumpers {
        "split=3[mark][logo_in][logo_out]"
    } else {
        "null[mark]"
    };
    let mut graph = format!(
        // Square pixels first, then fit inside the frame and pad: never stretch.
        "[0:v]scale=trunc(iw*sar/2)*2:ih,setsar=1,\
         scale={WIDTH}:{HEIGHT}:force_original_aspect_ratio=decrease,\
         pad={WIDTH}:{HEIGHT}:(ow-iw)/2:(oh-ih)/2,setsar=1,fps={FPS}[clip];\
         [1:v]format=rgba,{logo_branches};\
         [clip][mark]overlay=W-w-24:H-h-24:shortest=1,format=yuv420p[marked]"
    );
    if with_bumpers {
        graph.push_str(
            ";[logo_in]scale=iw*3:ih*3:flags=neighbor[big_in]\
             ;[logo_out]scale=iw*3:ih*3:flags=neighbor[big_out]\
             ;[2:v][big_in]overlay=(W-w)/2:(H-h)/2:shortest=1,setsar=1,format=yuv420p[intro]\
             ;[3:v][big_out]overlay=(W-w)/2:(H-h)/2:shortest=1,setsar=1,format=yuv420p[outro]\
             ;[intro][marked][outro]concat=n=3:v=1:a=0[out]",
        );
    } else {
        graph.push_str(";[marked]null[out]");
    }
    args.extend(words(&["-filter_complex", &graph, "-map", "[out]", "-an"]));
    args.extend(words(&[
        "-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-pix_fmt", "yuv420p",
    ]));
    args.extend(words(&["-movflags", "+faststart", "-f", "mp4"]));
    args.push(output.into());
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(bumper: f64) -> Vec<String> {
        arguments(
            Path::new("in.mp4"),
            Path::new("out.mp4"),
            Path::new("logo.pam"),
            Duration::from_secs(30),
            Duration::from_secs_f64(bumper),
        )
        .into_iter()
        .map(|a| a.into_string().unwrap())
        .collect()
    }

    #[test]
    fn trims_the_input_drops_audio_and_pads_to_720p() {
        let a = args(2.5);
        let trim = a.iter().position(|x| x == "-t").unwrap();
        assert_eq!(a[trim + 1], "30.000");
        assert_eq!(a[trim + 2], "-i");
        assert_eq!(a[trim + 3], "in.mp4");
        assert!(a.contains(&"-an".to_string()));
        let graph = &a[a.iter().position(|x| x == "-filter_complex").unwrap() + 1];
        assert!(graph.contains("force_original_aspect_ratio=decrease"));
        assert!(graph.contains("pad=1280:720"));
        assert!(graph.contains("concat=n=3"));
        assert_eq!(a.last().unwrap(), "out.mp4");
        assert!(a.windows(2).any(|w| w == ["-movflags", "+faststart"]));
    }

    #[test]
    fn bumpers_can_be_turned_off() {
        let a = args(0.0);
        assert!(!a.iter().any(|x| x == "lavfi"));
        let graph = &a[a.iter().position(|x| x == "-filter_complex").unwrap() + 1];
        assert!(!graph.contains("concat"));
    }
}
