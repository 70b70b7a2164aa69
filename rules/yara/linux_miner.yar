/*
    Cryptocurrency miners dropped on Linux servers: an ELF executable, or a miner
    configuration, that points at a Stratum mining pool.
*/

rule linux_elf_stratum_miner : miner linux
{
    meta:
        description = "ELF executable with a Stratum mining-pool URL and miner vocabulary"
        author = "Hải Đăng"
    strings:
        $pool = /stratum\+(tcp|ssl|tls):\/\/[a-zA-Z0-9.\-]{1,253}:[0-9]{2,5}/
        $w1 = "cryptonight" nocase
        $w2 = "randomx" nocase
        $w3 = "--donate-level" ascii
        $w4 = "hashrate" nocase
        $w5 = "nicehash" nocase
        $w6 = "mining.subscribe" ascii
    condition:
        uint32(0) == 0x464c457f and $pool and any of ($w*)
}

rule miner_config_stratum : miner
{
    meta:
        description = "Miner configuration (JSON) naming a Stratum pool with a wallet login"
        author = "Hải Đăng"
    strings:
        $url = /"url"\s*:\s*"stratum\+(tcp|ssl|tls):\/\//
        $user = /"user"\s*:\s*"/
        $pools = /"pools"\s*:\s*\[/
    condition:
        filesize < 1MB and $url and $user and $pools
}
