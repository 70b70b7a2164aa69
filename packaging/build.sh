#!/usr/bin/env bash
# Builds the packages IT staff deploy:
#   packaging/build.sh deb   -> target/packages/haidang-agent_<ver>_amd64.deb, haidang-collector_<ver>_amd64.deb
#   packaging/build.sh msi   -> target/packages/haidang-agent-<ver>-x64.msi (cross-built agent + wixl)
#   packaging/build.sh all
# It installs the Debian tools it needs (dpkg-dev, lintian, binutils, wixl) with apt-get when
# they are missing, and says so.
#
# Environment:
#   HAIDANG_PACKAGE_PROFILE   cargo profile of the binaries: release (default) or debug
#   HAIDANG_PACKAGE_VERSION   package version (default: the workspace's version)
#   HAIDANG_PACKAGE_OUT       output directory (default: target/packages in the repository)
#   HAIDANG_PACKAGE_NO_BUILD  1: package the binaries already in CARGO_TARGET_DIR, build nothing
#   HAIDANG_PACKAGE_LINTIAN   0: do not run lintian on the .debs (the tests run it themselves)
#   CARGO_TARGET_DIR          where cargo puts (and this script finds) the binaries
#   SOURCE_DATE_EPOCH         timestamps inside the packages (default: the last commit's)
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
here="$repo/packaging"

usage() {
    echo "usage: packaging/build.sh deb|msi|all" >&2
    exit 2
}
[ $# -eq 1 ] || usage
case "$1" in deb | msi | all) what="$1" ;; *) usage ;; esac

say() { echo "build.sh: $*" >&2; }
die() {
    say "$*"
    exit 1
}

profile="${HAIDANG_PACKAGE_PROFILE:-release}"
# Release packages are for deployment: xz at its default, smallest to distribute. Debug ones
# are for tests, whose binaries are several times larger: gzip at its fastest.
case "$profile" in
    release) cargo_profile=(--release) compression=(-Zxz) ;;
    debug) cargo_profile=() compression=(-Zgzip -z1) ;;
    *) die "HAIDANG_PACKAGE_PROFILE must be release or debug, not $profile" ;;
esac
target_dir="${CARGO_TARGET_DIR:-$repo/target}"
out="$(realpath -m "${HAIDANG_PACKAGE_OUT:-$repo/target/packages}")"
workspace_version="$(sed -n '/^\[workspace.package\]/,/^\[/s/^version = "\(.*\)"$/\1/p' "$repo/Cargo.toml")"
version="${HAIDANG_PACKAGE_VERSION:-$workspace_version}"
[ -n "$version" ] || die "cannot read the workspace version from Cargo.toml"
export SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-$(git -C "$repo" log -1 --format=%ct 2>/dev/null || date +%s)}"
windows_target=x86_64-pc-windows-gnu

# Installs the Debian packages named "command:package" whose command is missing.
need() {
    local missing=() item
    for item in "$@"; do
        command -v "${item%%:*}" >/dev/null 2>&1 || missing+=("${item#*:}")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
        die "missing ${missing[*]}: install them (apt-get install ${missing[*]}) or run this as root on Debian"
    fi
    say "installing ${missing[*]} (needed to build the packages)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

build_linux() {
    [ "${HAIDANG_PACKAGE_NO_BUILD:-0}" = 1 ] && return 0
    say "cargo build ${cargo_profile[*]} (agent, collector)"
    (cd "$repo" && cargo build --locked "${cargo_profile[@]}" -p haidang-agent -p haidang-collector --bins)
}

build_windows() {
    [ "${HAIDANG_PACKAGE_NO_BUILD:-0}" = 1 ] && return 0
    rustup target list --installed | grep -qx "$windows_target" || rustup target add "$windows_target"
    say "cargo build ${cargo_profile[*]} --target $windows_target (agent)"
    (cd "$repo" && cargo build --locked "${cargo_profile[@]}" --target "$windows_target" -p haidang-agent)
}

binary() {
    local path="$1"
    [ -x "$path" ] || die "$path is missing: build it (cargo build ${cargo_profile[*]}) or unset HAIDANG_PACKAGE_NO_BUILD"
    echo "$path"
}

# The Depends of the binaries in a staged tree (dpkg-shlibdeps wants a debian/control beside it).
shlib_depends() {
    local stage="$1" package="$2" scratch
    scratch="$(mktemp -d)"
    mkdir "$scratch/debian"
    printf 'Source: haidang\n\nPackage: %s\nArchitecture: amd64\n' "$package" >"$scratch/debian/control"
    (cd "$scratch" && dpkg-shlibdeps -O "$stage"/usr/bin/* 2>/dev/null) | sed -n 's/^shlibs:Depends=//p'
    rm -rf "$scratch"
}

# Makes one .deb from packaging/debian/<name>/ and the binary haidang-<name>.
deb_package() {
    local name="$1" package="haidang-$1" src="$here/debian/$1" work stage
    work="$(mktemp -d)"
    stage="$work/$package"
    install -D -m 0755 "$(binary "$target_dir/$profile/$package")" "$stage/usr/bin/$package"
    strip --strip-unneeded --remove-section=.comment --remove-section=.note "$stage/usr/bin/$package"
    install -D -m 0644 "$src/$package.service" "$stage/lib/systemd/system/$package.service"
    case "$name" in
        agent)
            install -D -m 0644 "$src/agent.toml" "$stage/etc/haidang/agent.toml"
            install -d -m 0755 "$stage/etc/haidang/yara"
            # The version the agent reports and signed updates compare (agent/src/version.rs).
            install -d -m 0755 "$stage/usr/share/haidang-agent"
            printf '%s\n' "$version" >"$stage/usr/share/haidang-agent/package.version"
            chmod 0644 "$stage/usr/share/haidang-agent/package.version"
            install -m 0644 "$repo"/rules/yara/*.yar "$stage/etc/haidang/yara/"
            ;;
        collector)
            install -D -m 0644 "$src/haidang-collector.default" "$stage/etc/default/haidang-collector"
            ;;
    esac
    install -D -m 0644 "$here/debian/copyright" "$stage/usr/share/doc/$package/copyright"
    install -d -m 0755 "$stage/usr/share/man/man8"
    gzip -9n <"$src/$package.8" >"$stage/usr/share/man/man8/$package.8.gz"
    chmod 0644 "$stage/usr/share/man/man8/$package.8.gz"
    install -D -m 0644 "$src/lintian-overrides" "$stage/usr/share/lintian/overrides/$package"
    {
        printf 'haidang (%s) unstable; urgency=medium\n\n' "$version"
        printf '  * Built from the haidang workspace (packaging/build.sh).\n\n'
        printf ' -- %s  %s\n' "$(sed -n 's/^Maintainer: //p' "$src/control")" \
            "$(date -u -R -d "@$SOURCE_DATE_EPOCH")"
    } | gzip -9n >"$stage/usr/share/doc/$package/changelog.gz"
    chmod 0644 "$stage/usr/share/doc/$package/changelog.gz"

    install -d -m 0755 "$stage/DEBIAN"
    local depends size
    depends="$(shlib_depends "$stage" "$package")"
    [ -n "$depends" ] || die "dpkg-shlibdeps found no library dependencies for $package"
    size="$(du -sk --apparent-size "$stage" | cut -f1)"
    sed -e "s/@VERSION@/$version/" -e "s/@INSTALLED_SIZE@/$size/" -e "s/@SHLIBS@/$depends/" \
        "$src/control" >"$stage/DEBIAN/control"
    # Every file under /etc is a conffile: a local edit survives upgrades.
    (cd "$stage" && find etc -type f | sort | sed 's|^|/|') >"$stage/DEBIAN/conffiles"
    chmod 0644 "$stage/DEBIAN/control" "$stage/DEBIAN/conffiles"
    for script in postinst prerm postrm; do
        install -m 0755 "$src/$script" "$stage/DEBIAN/$script"
    done
    (cd "$stage" && find usr lib etc -type f -print0 | sort -z | xargs -0 md5sum) >"$stage/DEBIAN/md5sums"
    chmod 0644 "$stage/DEBIAN/md5sums"
    find "$stage" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
    mkdir -p "$out"
    dpkg-deb --root-owner-group "${compression[@]}" --build "$stage" "$out/${package}_${version}_amd64.deb" >/dev/null
    rm -rf "$work"
    say "built $out/${package}_${version}_amd64.deb"
}

build_deb() {
    need dpkg-deb:dpkg dpkg-shlibdeps:dpkg-dev strip:binutils
    [ "${HAIDANG_PACKAGE_LINTIAN:-1}" = 0 ] || need lintian:lintian
    build_linux
    deb_package agent
    deb_package collector
    if [ "${HAIDANG_PACKAGE_LINTIAN:-1}" != 0 ]; then
        say "lintian (errors fail the build)"
        lintian --fail-on error \
            "$out/haidang-agent_${version}_amd64.deb" "$out/haidang-collector_${version}_amd64.deb"
    fi
}

build_msi() {
    need wixl:wixl x86_64-w64-mingw32-strip:binutils-mingw-w64-x86-64
    build_windows
    local exe work msi_version
    exe="$(binary "$target_dir/$windows_target/$profile/haidang-agent.exe")"
    # Windows Installer versions are three dotted numbers: 0.2.0~rc1 is 0.2.0.
    msi_version="$(printf '%s' "$version" | sed 's/[^0-9.].*//')"
    work="$(mktemp -d)"
    cp "$exe" "$work/haidang-agent.exe"
    mkdir "$work/yara"
    cp "$repo"/rules/yara/*.yar "$work/yara/"
    x86_64-w64-mingw32-strip "$work/haidang-agent.exe"
    printf '%s\n' "$version" >"$work/package.version"
    mkdir -p "$out"
    # wixl finds the files a .wxs names relative to its working directory.
    (cd "$work" && wixl --arch x64 -D "Version=$msi_version" -D "AgentExe=haidang-agent.exe" \
        -o "$out/haidang-agent-$version-x64.msi" "$here/windows/haidang-agent.wxs")
    rm -rf "$work"
    say "built $out/haidang-agent-$version-x64.msi"
}

case "$what" in
    deb) build_deb ;;
    msi) build_msi ;;
    all)
        build_deb
        build_msi
        ;;
esac
