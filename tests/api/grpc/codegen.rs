//! The checked-in gRPC code (`src/grpc/generated/`) is what `proto/clinicstream/v1/events.proto`
//! generates: the .proto is compiled here (protox, no protoc needed) and the Rust code
//! generated (tonic-prost-build) into a temporary directory, then compared. The encoded
//! descriptor set that reflection serves is compared the same way, so what `grpcurl`
//! describes is the checked-in .proto. `UPDATE_PROTO=1` rewrites both.

use prost::Message;
use std::path::{Path, PathBuf};

fn generate(out: &Path) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let fds = protox::compile(["clinicstream/v1/events.proto"], [root.join("proto")]).expect("the .proto compiles");
    std::fs::write(out.join("events.bin"), fds.encode_to_vec()).unwrap();
    tonic_prost_build::configure()
        .build_client(false)
        .build_server(true)
        .build_transport(false)
        .out_dir(out)
        .compile_fds(fds)
        .expect("the code generates");
}

#[test]
fn the_checked_in_grpc_code_is_what_the_proto_generates() {
    let checked_in = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/grpc/generated");
    let out = std::env::temp_dir().join(format!("clinicstream-grpc-gen-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&out).unwrap();
    generate(&out);
    let update = std::env::var("UPDATE_PROTO").is_ok_and(|v| v == "1");
    for file in ["clinicstream.v1.rs", "events.bin"] {
        let fresh = std::fs::read(out.join(file)).unwrap();
        if update {
            std::fs::write(checked_in.join(file), &fresh).unwrap();
            continue;
        }
        let kept = std::fs::read(checked_in.join(file)).unwrap_or_default();
        assert!(
            kept == fresh,
            "src/grpc/generated/{file} is stale: run `UPDATE_PROTO=1 cargo test --test api checked_in_grpc_code`"
        );
    }
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn reflection_serves_the_checked_in_descriptor() {
    let served = prost_types::FileDescriptorSet::decode(clinicstream::grpc::proto::FILE_DESCRIPTOR_SET).unwrap();
    let files: Vec<_> = served.file.iter().map(|f| f.name().to_string()).collect();
    assert_eq!(files, vec!["clinicstream/v1/events.proto".to_string()]);
    let service = &served.file[0].service[0];
    assert_eq!(
        (served.file[0].package(), service.name(), service.method[0].name()),
        ("clinicstream.v1", "Events", "Subscribe")
    );
    assert!(service.method[0].server_streaming(), "Subscribe returns a stream");
}
