/*
    PHP web shells: request data passed straight to code or command execution, the
    compressed-and-encoded loaders that hide them, and PHP hidden in uploaded images.
    The last two rules use the external variables `extension` and `filetype`.
*/

rule php_webshell_request_exec : webshell php
{
    meta:
        description = "PHP passes request parameters to eval/assert or to a shell"
        author = "Hải Đăng"
    strings:
        $php = "<?" ascii
        $exec = /(eval|assert|system|passthru|shell_exec|exec|popen|proc_open|create_function)\s*\(\s*(base64_decode\s*\(\s*|stripslashes\s*\(\s*)?\$_(GET|POST|REQUEST|COOKIE|SERVER)\s*\[/ nocase
    condition:
        filesize < 2MB and $php and $exec
}

rule php_webshell_encoded_loader : webshell php
{
    meta:
        description = "PHP file that evaluates compressed, base64-encoded code"
        author = "Hải Đăng"
    strings:
        $loader = /eval\s*\(\s*(gzinflate|gzuncompress|gzdecode|str_rot13)\s*\(\s*base64_decode\s*\(/ nocase
    condition:
        extension == ".php" and filesize < 2MB and $loader
}

rule php_in_image : webshell php
{
    meta:
        description = "Image file carrying PHP code, as planted through upload forms"
        author = "Hải Đăng"
    strings:
        $php = /<\?php\s/ nocase
    condition:
        (filetype == "JPEG" or filetype == "PNG" or filetype == "GIF") and $php
}
