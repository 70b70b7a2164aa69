/*
    The EICAR anti-malware test file: harmless, and recognised by every scanner, so it
    checks end to end that scanning, events and alerts work.
*/

rule eicar_test_file : test
{
    meta:
        description = "EICAR anti-malware test file"
        author = "Hải Đăng"
        reference = "https://www.eicar.org/download-anti-malware-testfile/"
    strings:
        $eicar = "X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
    condition:
        // The standard allows only trailing whitespace after the string, 128 bytes at most.
        $eicar at 0 and filesize <= 128
}
