// The `ephysloop` command line: serve, simulate, demo (npm start), bridge openephys|spikeglx, validate, sessions,
// status, features, saliency, explain, optvis, concepts, report, export.
// Over 400 lines: the command-line surface: one commander declaration per subcommand, each a few lines that
// hand off to commands/.
import { Command, Option } from "commander";
import { type Config, loadConfig, resolvePaths } from "../config/index.ts";
import { validateProtocolFile } from "./commands/validate.ts";
import { createLogger } from "./log.ts";
import { SessionStore } from "./store/store.ts";

function configFrom(opts: Record<string, unknown>): Config {
  return loadConfig({
    file: opts.config as string | undefined,
    flags: {
      bind: opts.bind as string | undefined,
      port: opts.port as string | undefined,
      token: opts.token as string | undefined,
      dataDir: opts.dataDir as string | undefined,
      dbPath: opts.db as string | undefined,
      "compute.executor": opts.executor as string | undefined,
      "compute.tfjsBackend": opts.backend as string | undefined,
      "compute.device": opts.device as string | undefined,
      "weights.path": opts.weights as string | undefined,
      "rig.serialPath": opts.serial as string | undefined,
      logLevel: opts.logLevel as string | undefined,
    },
  });
}

/** A coded error (EPHYS_…) is said in one line, as every other refused flag is; anything else goes on up. */
async function sayCodedErrors(run: () => Promise<void>): Promise<void> {
  try {
    await run();
  } catch (e) {
    const err = e as Error & { code?: unknown };
    if (typeof err?.code !== "string" || !err.code.startsWith("EPHYS_")) throw e;
    console.error(`error ${err.code}: ${err.message}`);
    process.exitCode = 1;
  }
}

function withConfigOptions(cmd: Command): Command {
  return cmd
    .option("--config <file>", "config file (YAML or JSON); also EPHYSLOOP_CONFIG")
    .option("--bind <address>", "address to listen on (default 127.0.0.1)")
    .option("--port <port>", "TCP port (default 8710; 0 = any free port)")
    .option("--token <token>", "access token (default: generated into the data dir)")
    .option("--data-dir <dir>", "data directory (default ./ephysloop-data)")
    .option("--db <file>", "SQLite database (default <data dir>/ephysloop.db)")
    .addOption(
      new Option(
        "--executor <name>",
        "backbone engine for features and input gradients (auto: ONNX Runtime when it loads)",
      ).choices(["auto", "onnx", "tfjs"]),
    )
    .addOption(
      new Option("--backend <name>", "tfjs backend").choices([
        "auto",
        "tensorflow-gpu",
        "tensorflow",
        "wasm",
        "cpu",
      ]),
    )
    .addOption(
      new Option(
        "--device <name>",
        "where ONNX Runtime runs (auto: the first of cuda, webgpu, cpu that runs here)",
      ).choices(["auto", "cpu", "cuda", "webgpu"]),
    )
    .option("--weights <file>", "torchvision-layout .safetensors weights (default: embedded Keras ResNet-50)")
    .option("--serial <device>", "rig box serial device, e.g. /dev/ttyACM0")
    .addOption(new Option("--log-level <level>").choices(["trace", "debug", "info", "warn", "error"]));
}

/** The timing flags every bridge command takes (controller/bridges/core/linked-core.ts timingFlags). */
function withBridgeTiming(cmd: Command): Command {
  return cmd
    .option(
      "--settle-ms <ms>",
      "wait this long past onset + postMs (acquisition clock) before a trial goes out",
    )
    .option("--photodiode-max-ms <ms>", "the photodiode must rise within this long after the event word")
    .option(
      "--max-onset-delay-ms <ms>",
      "a trial whose code has not come this long after its announcement is missing",
    );
}

export async function main(argv: string[]): Promise<void> {
  const program = new Command()
    .name("ephysloop")
    .description("Closed-loop electrophysiology experiment controller")
    .showHelpAfterError();

  program
    .command("validate")
    .argument("<file>", "protocol file (YAML)")
    .description("check a protocol file; every problem with its path, line and column")
    .action((file: string) => {
      const report = validateProtocolFile(file);
      for (const w of report.warnings) console.warn(`warning: ${w}`);
      for (const e of report.errors) console.error(`error: ${e}`);
      if (report.ok) console.log(`${file}: valid`);
      process.exitCode = report.ok ? 0 : 1;
    });

  withConfigOptions(program.command("sessions").description("list recorded sessions")).action((opts) => {
    const store = new SessionStore(resolvePaths(configFrom(opts)).dbPath);
    const rows = store.listSessions();
    if (rows.length === 0) console.log("no sessions");
    for (const r of rows)
      console.log(
        `${r.id}  ${r.state.padEnd(16)} ${r.protocol_name}  started ${r.started_at ?? "-"}  ended ${r.ended_at ?? "-"}${r.failed_reason ? `  (${r.failed_reason})` : ""}`,
      );
    store.close();
  });

  withConfigOptions(
    program.command("status").argument("[session]").description("state and progress of a session"),
  ).action((session: string | undefined, opts) => {
    const store = new SessionStore(resolvePaths(configFrom(opts)).dbPath);
    const row = session ? store.getSession(session) : (store.resumableSession() ?? store.listSessions()[0]);
    if (!row) {
      console.error(session ? `no session ${session}` : "no sessions");
      process.exitCode = 1;
      return;
    }
    const trials = store.trials(row.id);
    console.log(
      JSON.stringify(
        {
          session: row.id,
          protocol: row.protocol_name,
          protocolSha256: row.protocol_sha256,
          state: row.state,
          failedReason: row.failed_reason,
          shown: trials.filter((t) => t.status === "shown").length,
          voided: trials.filter((t) => t.status === "voided").length,
          channels: store.channels(row.id).length,
        },
        null,
        2,
      ),
    );
    store.close();
  });

  withConfigOptions(
    program
      .command("serve")
      .description("run the daemon: a new session from --protocol, or resume the newest unfinished one")
      .option("--protocol <file>", "protocol file for a new session")
      .option("--subject <name>", "subject stored with a new session (provenance, the report, NWB)")
      .option("--rig <name>", "rig stored with a new session")
      .option("--probe <name>", "probe (model, serial number) stored with a new session")
      .option("--depth-um <um>", "probe depth in µm stored with a new session")
      .option("--region <name>", "brain region recorded, stored with a new session")
      .option("--time-scale <x>", "multiply every protocol duration (simulation only)", "1"),
  ).action(async (opts) => {
    const { serve, sessionMetadata } = await import("./commands/serve.ts");
    let metadata: ReturnType<typeof sessionMetadata>;
    try {
      metadata = sessionMetadata(opts);
    } catch (e) {
      const err = e as Error & { code?: string };
      console.error(`error${err.code ? ` ${err.code}` : ""}: ${err.message}`);
      process.exitCode = 1;
      return;
    }
    await sayCodedErrors(() =>
      serve(configFrom(opts), {
        protocolPath: opts.protocol,
        metadata,
        timeScale: Number(opts.timeScale),
      }),
    );
  });

  program
    .command("simulate")
    .description(
      "the virtual rig: acquisition bridge + headless display (+ a rig box on a socat pseudo-terminal) against a daemon",
    )
    .requiredOption("--url <ws-url>", "daemon address, e.g. ws://127.0.0.1:8710")
    .requiredOption("--token <token>", "the daemon's token")
    .requiredOption("--protocol <file>", "the protocol the daemon runs (stimuli, simulation settings)")
    .option("--box-host <path>", "pty link the daemon opens as its rig box (with --box; needs socat)")
    .option("--box <path>", "pty link the virtual rig box opens (with --box-host)")
    .option("--no-box", "no virtual rig box (your own box, or none)")
    .option(
      "--no-acquisition",
      "no simulated acquisition bridge (run your own bridge against the simulated rest)",
    )
    .option("--no-display", "no headless display (open the display page in a browser instead)")
    .option("--connect-timeout <ms>", "how long to keep trying to reach the daemon", "20000")
    .addOption(
      new Option("--fault <part>", "make one part fail at start, to see how the day reports it").choices([
        "display",
        "acquisition",
        "rig-process",
      ]),
    )
    .option("--truth <file>", "write the ground truth (every spike sent) as JSON lines")
    .option(
      "--truth-neurons <file>",
      "write the simulated neurons (readouts, drives, rates) as JSON: the report's truth appendix reads it from <session folder>/simulation-truth.json",
    )
    .option("--feature-cache <dir>", "backbone feature cache to share with the daemon")
    .option("--drop-every <n>", "drop the connection after every n messages", "0")
    .option("--duplicate <p>", "probability of sending a message twice", "0")
    .option("--reorder <p>", "probability of swapping a message with the next", "0")
    .addOption(
      new Option(
        "--acquisition <kind>",
        "direct: a bridge to /acquisition here; openephys: an Event Broadcaster for `ephysloop bridge openephys`; spikeglx: a Neuropixels rig behind SpikeGLX's command server for `ephysloop bridge spikeglx`",
      )
        .choices(["direct", "openephys", "spikeglx"])
        .default("direct"),
    )
    .option("--spikeglx-port <port>", "with --acquisition spikeglx: the command server's port", "4142")
    .option(
      "--zmq <endpoint>",
      "with --acquisition openephys: where the Event Broadcaster binds",
      "tcp://127.0.0.1:5557",
    )
    .addOption(
      new Option("--zmq-format <format>", "with --acquisition openephys: the broadcaster's output format")
        .choices(["json", "binary"])
        .default("json"),
    )
    .action(async (opts) => {
      const { simulate } = await import("./simulate/run.ts");
      await simulate({
        acquisition: opts.acquisition,
        openephys: { endpoint: opts.zmq, format: opts.zmqFormat },
        spikeglx: { port: Number(opts.spikeglxPort) },
        url: opts.url,
        token: opts.token,
        protocolPath: opts.protocol,
        hostPath: opts.box === false ? undefined : opts.boxHost,
        boxPath: typeof opts.box === "string" ? opts.box : undefined,
        truthFile: opts.truth,
        truthNeuronsFile: opts.truthNeurons,
        featureCache: opts.featureCache,
        without: { acquisition: opts.acquisition === false, display: opts.display === false },
        connectTimeoutMs: Number(opts.connectTimeout),
        fault: opts.fault,
        faults: {
          dropEvery: Number(opts.dropEvery),
          duplicate: Number(opts.duplicate),
          reorder: Number(opts.reorder),
        },
      });
    });

  withConfigOptions(
    program
      .command("demo")
      .description("a full simulated recording day on the embedded defaults (what `npm start` runs)")
      .option("--protocol <file>", "protocol", "protocols/demo.yaml")
      .addOption(
        new Option(
          "--fault <part>",
          "make one part of the virtual rig fail at start, to see how the day reports it",
        ).choices(["box", "display", "acquisition", "rig-process"]),
      )
      .addOption(
        new Option(
          "--acquisition <kind>",
          "direct: the virtual rig's bridge speaks /acquisition; openephys: an emulated Event Broadcaster and `ephysloop bridge openephys` between it and the daemon",
        )
          .choices(["direct", "openephys"])
          .default("direct"),
      ),
  ).action(async (opts) => {
    const { demo } = await import("./commands/demo.ts");
    await sayCodedErrors(() =>
      demo(configFrom(opts), {
        protocolPath: opts.protocol,
        fault: opts.fault,
        acquisition: opts.acquisition,
      }),
    );
  });

  const bridge = program
    .command("bridge")
    .description("acquisition bridges: an acquisition system's stream → the daemon's /acquisition");
  withBridgeTiming(bridge.command("openephys"))
    .description("the Open Ephys GUI's Event Broadcaster (ZMQ) → /acquisition (docs/openephys.md)")
    .requiredOption("--url <ws-url>", "daemon address, e.g. ws://127.0.0.1:8710")
    .requiredOption("--token <token>", "the daemon's token")
    .requiredOption(
      "--channels <file>",
      "channel map (YAML): stream, event lines, photodiode line, electrodes",
    )
    .option("--zmq <endpoint>", "the Event Broadcaster's address", "tcp://127.0.0.1:5557")
    .option(
      "--outbox <file>",
      "SQLite outbox: unacked messages, seq counter, bridge id",
      "ephysloop-bridge.db",
    )
    .action(async (opts) => {
      const { openEphysBridgeCommand } = await import("./bridges/openephys/command.ts");
      await openEphysBridgeCommand(opts);
    });
  withBridgeTiming(bridge.command("spikeglx"))
    .description(
      "SpikeGLX's Remote Command API (Neuropixels): online spike detection → /acquisition (docs/spikeglx.md)",
    )
    .requiredOption("--url <ws-url>", "daemon address, e.g. ws://127.0.0.1:8710")
    .requiredOption("--token <token>", "the daemon's token")
    .requiredOption(
      "--channels <file>",
      "channel map (YAML): probe, word stream and channel, event lines, photodiode line, detection, AP channels",
    )
    .option("--host <host>", "the SpikeGLX machine", "127.0.0.1")
    .option("--port <port>", "SpikeGLX's command server port", "4142")
    .option(
      "--outbox <file>",
      "SQLite outbox: unacked messages, seq counter, bridge id",
      "ephysloop-bridge.db",
    )
    .option("--poll-ms <ms>", "wall time between reads of SpikeGLX's streams (default 20)")
    .action(async (opts) => {
      const { spikeGlxBridgeCommand } = await import("./bridges/spikeglx/command.ts");
      await spikeGlxBridgeCommand(opts);
    });

  withConfigOptions(
    program
      .command("features")
      .argument("<targets...>", "a PROTOCOL file or a DIR of images; with --out: IMAGE files")
      .description(
        "backbone features: a protocol's stimuli or a folder's images (cached in <data dir>/features), " +
          "or images into a .npy",
      )
      .addOption(
        new Option("--arch <name>", "backbone (default: protocol, config weights, else resnet50)").choices([
          "resnet18",
          "resnet50",
        ]),
      )
      .addOption(
        new Option(
          "--variant <name>",
          "ResNet variant (default: protocol, config weights, else keras)",
        ).choices(["torchvision", "keras"]),
      )
      .option("--layer <tap>", "tap, e.g. layer4.1 (default: the protocol's, else layer4.1)")
      .option("--size <px>", "model input side in pixels (default: the protocol's, else 224)")
      .option("--batch-size <n>", "images per forward pass", "8")
      .option("--out <file.npy>", "write float32 [images, H, W, C] to this .npy instead of caching"),
  ).action(async (targets: string[], opts) => {
    const { featuresCommand } = await import("./commands/features.ts");
    await featuresCommand(configFrom(opts), targets, opts);
  });

  withConfigOptions(
    program
      .command("saliency")
      .description(
        "shared-feature maps (parallel backprop) of one readout for an (out-of-category, in-category) image pair",
      )
      .addOption(
        new Option("--arch <name>", "backbone (default: config weights, else resnet50)").choices([
          "resnet18",
          "resnet50",
        ]),
      )
      .addOption(
        new Option("--variant <name>", "ResNet variant (default: config weights, else keras)").choices([
          "torchvision",
          "keras",
        ]),
      )
      .option("--layer <tap>", "tap the readout samples", "layer4.1")
      .requiredOption("--readout <file>", "READOUT.json: {location: [x, y], weights: [...]}")
      .requiredOption("--out-image <file>", "x_out: the out-of-category image (e.g. an object)")
      .requiredOption("--in-image <file>", "x_in: the in-category image (e.g. a body)")
      .option("--sigma <px>", "Gaussian smoothing of each gradient, in pixels", "4")
      .option("--epsilon <e>", "allowed dropped β mass as a fraction of s", "0.01")
      .addOption(
        new Option("--method <name>", "gradient, integrated gradients or unweighted")
          .choices(["gradient", "ig", "unweighted"])
          .default("gradient"),
      )
      .option("--ig-steps <m>", "integrated-gradients path steps", "16")
      .option("--size <px>", "model input side in pixels", "224")
      .requiredOption("--out <dir>", "folder for out_map.npy, in_map.npy, overlays and summary.json"),
  ).action(async (opts) => {
    const { saliencyCommand } = await import("./commands/saliency.ts");
    const summary = await saliencyCommand(configFrom(opts), opts);
    const { topFeatures, ...rest } = summary;
    console.log(JSON.stringify({ ...rest, topFeatures: topFeatures.slice(0, 10) }, null, 2));
  });

  withConfigOptions(
    program
      .command("explain")
      .argument("<session>", "session id")
      .description("recompute the shared-feature maps of a stored session's included channels")
      .option("--channel <id>", "only this channel"),
  ).action(async (session: string, opts) => {
    const { explainCommand } = await import("./commands/explain.ts");
    const outcome = await explainCommand(configFrom(opts), session, { channel: opts.channel });
    for (const d of outcome.done)
      console.log(
        `${d.channelId}  ${d.meta.objectId} vs ${d.meta.bodyId}  s ${d.meta.s.toFixed(3)}  k ${d.meta.k}  dropped ${d.meta.dropped.toExponential(2)}`,
      );
    for (const s of outcome.skipped) console.log(`${s.channelId}  skipped: ${s.reason}`);
    if (outcome.done.length === 0 && outcome.skipped.length === 0)
      console.log("no included channel: nothing to explain");
  });

  withConfigOptions(
    program
      .command("optvis")
      .argument("<session>", "session id")
      .description(
        "images synthesized on each channel's model (feature visualization), stored as artifacts of the session",
      )
      .option("--channel <id>", "only this channel")
      .option("--steps <n>", "Adam steps (default: the protocol's synthesis.steps, else 512)")
      .option("--images <n>", "images per channel, optimized together with a diversity term (default 1)")
      .option("--seed <n>", "seed of the initial image and the transforms (default: the protocol's)")
      .option("--lr <rate>", "Adam learning rate (default 0.05)")
      .option("--l2 <weight>", "L2 penalty λ1 (default 1e-4)")
      .option("--tv <weight>", "total-variation penalty λ2 (default 0)")
      .option("--diversity <weight>", "diversity weight for --images > 1 (default 1)")
      .addOption(
        new Option("--parameterization <name>", "image parameterization").choices(["fourier", "pixels"]),
      )
      .addOption(
        new Option("--transforms <name>", "transformation robustness").choices(["standard", "none"]),
      ),
  ).action(async (session: string, opts) => {
    const { optvisCli } = await import("./commands/optvis.ts");
    await optvisCli(configFrom(opts), session, opts);
  });

  withConfigOptions(
    program
      .command("concepts")
      .argument("<session>", "session id")
      .description(
        "concept maps across the session's channels (AlignedCut: readout-aligned features, Nyström normalized cut)",
      )
      .option("--k <n>", "eigenvectors", "10")
      .option("--gamma <g>", "affinity scale γ in exp(−(1 − cos)/γ), or auto", "auto")
      .option("--m <n>", "Nyström sample size (farthest-point sampling)", "10000")
      .option("--knn <n>", "sampled neighbours averaged per node", "10")
      .option("--concepts <n>", "concept clusters", "6")
      .addOption(new Option("--reduce <method>", "colouring").choices(["umap", "pca"]).default("umap"))
      .option("--seed <n>", "seed for sampling, UMAP and k-means", "1")
      .option("--roles <list>", "only stimuli of these roles, e.g. preferred,object (default: all)")
      .option("--montage <n>", "images in the montage", "16"),
  ).action(async (session: string, opts) => {
    const { conceptsCli } = await import("./commands/concepts.ts");
    await conceptsCli(configFrom(opts), session, opts);
  });

  withConfigOptions(
    program
      .command("report")
      .argument("<session>", "session id (see `ephysloop sessions`)")
      .description("write the session's self-contained HTML report to <data dir>/sessions/<id>/report.html")
      .option("--pdf", "also print it to report.pdf beside it (headless Chromium)"),
  ).action(async (session: string, opts) => {
    const { reportCommand } = await import("./commands/report.ts");
    try {
      await reportCommand(configFrom(opts), session, { pdf: Boolean(opts.pdf) });
    } catch (e) {
      const err = e as Error & { code?: string };
      console.error(`error${err.code ? ` ${err.code}` : ""}: ${err.message}`);
      process.exitCode = 1;
    }
  });

  withConfigOptions(
    program
      .command("export")
      .argument("<session>", "session id (see `ephysloop sessions`)")
      .description("write the stored session as an NWB 2.6.0 file (see docs/nwb.md)")
      .option("--nwb <file>", "the NWB file to write (FILE.nwb)")
      .option("--nwb-schema <dir>", "NWB schema folder cached in the file (default ../shared/nwb-schema)"),
  ).action(async (session: string, opts) => {
    const { exportCli } = await import("./commands/export.ts");
    await exportCli(configFrom(opts), session, { nwb: opts.nwb, nwbSchema: opts.nwbSchema });
  });

  await program.parseAsync(argv);
}

export { createLogger };
