#!/usr/bin/perl
# The floor: the cheapest correct way to file one message in an mbox. It takes the
# fcntl lock and the dotlock (mutt's order), appends a From_ line and the mboxrd-quoted
# message, fdatasyncs, and unlocks. Usage: floor.pl MBOX SENDER < message
#
# No modules: loading Fcntl, POSIX or IO::Handle costs 3 to 15 ms, more than the work.
# The constants are Linux x86_64's (fcntl.h, and syscall 75 is fdatasync).
use strict;
use warnings;

my ($O_WRONLY, $O_RDWR, $O_CREAT, $O_EXCL, $O_APPEND) = (1, 2, 64, 128, 1024);
my ($F_SETLKW, $F_WRLCK, $F_UNLCK, $SYS_fdatasync) = (7, 1, 2, 75);

my ($mbox, $sender) = @ARGV;
my $msg = do { local $/; <STDIN> };
$msg =~ s/\r\n/\n/g;
$msg =~ s/\AFrom [^\n]*\n//;
$msg =~ s/^(>*From )/>$1/mg;
$msg .= "\n" unless $msg =~ /\n\z/;

sysopen(my $fh, $mbox, $O_RDWR | $O_APPEND | $O_CREAT, 0660) or die "$mbox: $!";
# struct flock: short type, short whence, off_t start, off_t len, pid_t pid
my $lock = pack("s s x4 q q i x4", $F_WRLCK, 0, 0, 0, 0);
fcntl($fh, $F_SETLKW, $lock) or die "fcntl: $!";
my $dot = "$mbox.lock";
my $tries = 0;
until (sysopen(my $d, $dot, $O_WRONLY | $O_CREAT | $O_EXCL, 0644)) {
    die "dotlock: $!" if ++$tries > 2000;
    select(undef, undef, undef, 0.01);
}
my $date = scalar gmtime;    # asctime form, as a From_ line wants
syswrite($fh, "From $sender $date\n$msg\n") or die "write: $!";
syscall($SYS_fdatasync, fileno($fh)) == 0 or die "fdatasync: $!";
unlink $dot;
my $unlock = pack("s s x4 q q i x4", $F_UNLCK, 0, 0, 0, 0);
fcntl($fh, $F_SETLKW, $unlock);
close $fh;
